export type AuditApiRole = 'auditor' | 'admin';

/** Options of {@link AuditApiModule}. */
export interface AuditApiOptions {
  /** Keys that may call the audit API, each with its role; `admin` may also operate. */
  apiKeys: { role: AuditApiRole; key: string }[];
  /** Requests each key may make per window before it gets 429. @default { requests: 600, windowMs: 60_000 } */
  rateLimit: { requests: number; windowMs: number };
}
