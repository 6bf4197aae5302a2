export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type AuditRole = 'auditor' | 'admin';

export interface AuditApiKey {
  role: AuditRole;
  key: string;
}

/**
 * The whole configuration of the service, validated once at start-up.
 * Only the app reads the environment; each library receives its slice of this object as module options.
 */
export interface ServiceConfig {
  nodeEnv: 'development' | 'production' | 'test';
  http: {
    port: number;
    host: string;
    publicBaseUrl: string;
    /** Largest request body accepted, in bytes; larger bodies are answered with 413. */
    bodyLimitBytes: number;
  };
  database: {
    /** Undefined means: start the embedded database (never in production). */
    url: string | undefined;
    embeddedDataDir: string;
    poolMax: number;
    /** How long a query may wait for a pooled connection. */
    acquireTimeoutMs: number;
    statementTimeoutMs: number;
    /** How long start-up keeps retrying an unreachable database before giving up. */
    startupTimeoutMs: number;
    /** Apply pending migrations at start-up; off when a rollout runs `npm run migrate` (or its init step) first. */
    migrateOnStart: boolean;
  };
  optimove: {
    apiUrl: string | undefined;
    gatewayApiUrl: string | undefined;
    apiKey: string | undefined;
    timezone: string;
    registerOnBoot: boolean;
    /** Client-side limit on calls to Optimove, shared by nothing else: give each replica its share. */
    rateLimit: { requests: number; windowMs: number } | false;
  };
  listener: { token: string | undefined };
  gateway: { token: string | undefined; timeoutMs: number; marginMs: number };
  clearance: {
    safetyMarginSeconds: number;
    /** Between the decision cut-off and the report deadline, for the last reports. */
    reportReserveSeconds: number;
    sliceConcurrency: number;
    workersEnabled: boolean;
    /** How long a replica's claim on a fetch or slice lasts without renewal; a dead replica's work waits this long. */
    leaseSeconds: number;
  };
  promo: { apiUrl: string | undefined; apiToken: string | undefined; concurrency: number };
  profile: { apiUrl: string | undefined; apiToken: string | undefined };
  policyFile: string | undefined;
  audit: {
    apiKeys: AuditApiKey[];
    /** Requests each audit key may make per window. */
    rateLimit: { requests: number; windowMs: number };
    /** Months of decisions kept; older monthly partitions are dropped whole. 0 keeps everything. */
    retentionMonths: number;
  };
  log: { level: LogLevel };
  shutdown: {
    /** Time between readiness turning 503 and the server closing, so that load balancers stop routing. */
    drainMs: number;
    /** Hard limit on the whole shutdown; past it the process exits non-zero. */
    timeoutMs: number;
  };
}
