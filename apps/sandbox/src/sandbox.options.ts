/** Options of {@link startSandbox}; every field has a default suited to tests and the demo. */
export interface SandboxOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port of the Optimove stand-in; 0 picks a free one. @default 4100 */
  optimovePort?: number;
  /** Port of the promo system stand-in; 0 picks a free one. @default 4200 */
  promoPort?: number;
  /** Port of the profile source stand-in; 0 picks a free one. @default 4300 */
  profilePort?: number;
  /** The `X-API-KEY` the Optimove stand-in expects. @default 'sandbox-api-key' */
  apiKey?: string;
  /** When set, promo calls must carry `Authorization: Bearer <token>`. */
  promoToken?: string;
  /** When set, profile calls must carry `Authorization: Bearer <token>`. */
  profileToken?: string;
  /** IANA zone of Optimove's 'YYYY-MM-DD HH:MM:SS' times. @default 'Europe/London' */
  timezone?: string;
  /** Sliding-window limit per API key, or false for none. @default { requests: 50, windowMs: 10_000 } */
  rateLimit?: { requests: number; windowMs: number } | false;
  /** Seed of the deterministic profiles. @default 1 */
  profileSeed?: number;
  /** Receives a line for each notable control event; silent by default. */
  logger?: (line: string) => void;
}

/** A running sandbox. */
export interface Sandbox {
  /** Base URL of the Optimove stand-in, e.g. http://127.0.0.1:4100 (also served under /current and /v3.0). */
  optimoveUrl: string;
  promoUrl: string;
  profileUrl: string;
  apiKey: string;
  /** Stops the three servers, dropping any connection held by a black hole. */
  stop(): Promise<void>;
}

export interface RateLimitSettings {
  requests: number;
  windowMs: number;
}

export interface ResolvedSandboxOptions {
  host: string;
  optimovePort: number;
  promoPort: number;
  profilePort: number;
  apiKey: string;
  promoToken?: string;
  profileToken?: string;
  timezone: string;
  rateLimit: RateLimitSettings | false;
  profileSeed: number;
  logger: (line: string) => void;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { requests: 50, windowMs: 10_000 };
