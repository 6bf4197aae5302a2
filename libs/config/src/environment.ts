import { z } from 'zod';
import { ConfigurationError } from './configuration.error';
import { AuditApiKey, LogLevel, ServiceConfig } from './service-config';

type Environment = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MIN_SECRET_LENGTH = 16;

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((url) => url.replace(/\/+$/, ''));

const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' });

const secret = z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters`);

const booleanFlag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1');

const timezone = z.string().refine(isKnownTimeZone, 'must be an IANA time zone such as Europe/London');

const auditApiKeys = z.string().transform((raw, ctx): AuditApiKey[] => {
  const keys: AuditApiKey[] = [];
  for (const [index, pair] of raw.split(',').entries()) {
    const separator = pair.indexOf(':');
    const role = pair.slice(0, separator).trim();
    const key = pair.slice(separator + 1).trim();
    if (separator < 0 || (role !== 'auditor' && role !== 'admin')) {
      ctx.addIssue({ code: 'custom', message: `entry ${index + 1} must be role:key with role auditor or admin` });
    } else if (key.length < MIN_SECRET_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} has a key shorter than ${MIN_SECRET_LENGTH} characters`,
      });
    } else {
      keys.push({ role, key });
    }
  }

  return keys;
});

const rate = z
  .string()
  .regex(/^\d+\/\d+$/, 'must be <requests>/<seconds>, e.g. 600/60')
  .transform((raw) => {
    const [requests = 0, seconds = 0] = raw.split('/').map(Number);

    return { requests, windowMs: seconds * 1000 };
  })
  .refine((limit) => limit.requests > 0 && limit.windowMs > 0, 'must allow at least 1 request in at least 1 second');

/**
 * Every variable the service reads, with its schema. A value of `undefined` (unset or empty) takes the default.
 * Variables listed in the service contract keep their names and defaults; the others are operational extras.
 */
const VARIABLES = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: integer(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_BASE_URL: httpUrl.default('http://localhost:3000'),
  HTTP_BODY_LIMIT_BYTES: integer(1024, 64 * 1024 * 1024).default(1024 * 1024),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: integer(2, 500).default(20),
  DATABASE_ACQUIRE_TIMEOUT_MS: integer(100, 60_000).default(2_000),
  DATABASE_STATEMENT_TIMEOUT_MS: integer(100, 3_600_000).default(30_000),
  DATABASE_STARTUP_TIMEOUT_SECONDS: integer(0, 600).default(30),
  EMBEDDED_DATABASE_DIR: z.string().min(1).default('.data/pglite'),
  MIGRATE_ON_START: booleanFlag.default(true),
  OPTIMOVE_API_URL: httpUrl.optional(),
  OPTIMOVE_GATEWAY_API_URL: httpUrl.optional(),
  OPTIMOVE_API_KEY: z.string().min(1).optional(),
  OPTIMOVE_TIMEZONE: timezone.default('UTC'),
  OPTIMOVE_REGISTER_ON_BOOT: booleanFlag.default(false),
  OPTIMOVE_RATE_LIMIT: z
    .string()
    .transform((raw, ctx) => {
      if (raw === 'off') {
        return false as const;
      }
      const parsed = rate.safeParse(raw);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: 'must be <requests>/<seconds> (e.g. 50/10) or off' });

        return z.NEVER;
      }

      return parsed.data;
    })
    .default({ requests: 50, windowMs: 10_000 }),
  LISTENER_TOKEN: secret.optional(),
  GATEWAY_TOKEN: secret.optional(),
  GATEWAY_TIMEOUT_MS: integer(0, 2500).default(2000),
  GATEWAY_MARGIN_MS: integer(0, 2500).default(250),
  CLEARANCE_SAFETY_MARGIN_SECONDS: integer(0, 86_400).default(60),
  CLEARANCE_REPORT_RESERVE_SECONDS: integer(0, 3_600).default(15),
  CLEARANCE_SLICE_CONCURRENCY: integer(1, 64).default(4),
  CLEARANCE_WORKERS_ENABLED: booleanFlag.default(true),
  CLEARANCE_LEASE_SECONDS: integer(2, 600).default(30),
  PROMO_API_URL: httpUrl.optional(),
  PROMO_API_TOKEN: z.string().min(1).optional(),
  PROMO_CONCURRENCY: integer(1, 1024).default(32),
  PROFILE_API_URL: httpUrl.optional(),
  PROFILE_API_TOKEN: z.string().min(1).optional(),
  POLICY_FILE: z.string().min(1).optional(),
  AUDIT_API_KEYS: auditApiKeys.default([]),
  AUDIT_API_RATE_LIMIT: rate.default({ requests: 600, windowMs: 60_000 }),
  AUDIT_RETENTION_MONTHS: integer(0, 1200).default(0),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  SHUTDOWN_DRAIN_MS: integer(0, 120_000).default(3_000),
  SHUTDOWN_TIMEOUT_MS: integer(1_000, 600_000).default(30_000),
};

type VariableName = keyof typeof VARIABLES;
type Values = { [K in VariableName]: z.output<(typeof VARIABLES)[K]> };

/** Prefixes that belong to this service: an unknown variable under one of them is most likely a typo. */
const OWNED_PREFIXES = [
  'OPTIMOVE_',
  'LISTENER_',
  'GATEWAY_',
  'CLEARANCE_',
  'PROMO_',
  'PROFILE_',
  'AUDIT_',
  'EMBEDDED_DATABASE_',
  'SHUTDOWN_',
];

/** Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_3000_TCP` and the like for every service it runs. */
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$/;

/**
 * Reads the service configuration from an environment. Every problem is collected and reported together in one
 * {@link ConfigurationError}, so that a deployment is fixed in one round.
 */
export function parseServiceConfig(env: Environment): ServiceConfig {
  const problems: string[] = [];
  const values: Partial<Record<VariableName, unknown>> = {};

  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const raw = env[name]?.trim();
    const result = VARIABLES[name].safeParse(raw === '' ? undefined : raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      problems.push(`${name} ${result.error.issues.map((issue) => issue.message).join('; ')}`);
    }
  }

  for (const name of Object.keys(env)) {
    const owned = OWNED_PREFIXES.some((prefix) => name.startsWith(prefix));
    if (owned && !(name in VARIABLES) && !SERVICE_LINK.test(name)) {
      problems.push(`${name} is not a known variable (check its spelling)`);
    }
  }

  if (problems.length === 0) {
    problems.push(...crossCheck(values as Values));
  }
  if (problems.length > 0) {
    throw new ConfigurationError(problems);
  }

  return toServiceConfig(values as Values);
}

function crossCheck(v: Values): string[] {
  const problems: string[] = [];
  if (v.NODE_ENV === 'production' && !v.DATABASE_URL) {
    problems.push('DATABASE_URL is required when NODE_ENV=production (the embedded database is for local runs only)');
  }
  if (v.GATEWAY_TIMEOUT_MS > 0 && v.GATEWAY_MARGIN_MS >= v.GATEWAY_TIMEOUT_MS) {
    problems.push('GATEWAY_MARGIN_MS must be smaller than GATEWAY_TIMEOUT_MS');
  }
  if (v.OPTIMOVE_REGISTER_ON_BOOT) {
    const needed: VariableName[] = ['OPTIMOVE_API_URL', 'OPTIMOVE_API_KEY', 'LISTENER_TOKEN', 'GATEWAY_TOKEN'];
    for (const name of needed.filter((n) => v[n] === undefined)) {
      problems.push(`${name} is required when OPTIMOVE_REGISTER_ON_BOOT=true`);
    }
  }

  return problems;
}

function toServiceConfig(v: Values): ServiceConfig {
  return {
    nodeEnv: v.NODE_ENV,
    http: {
      port: v.PORT,
      host: v.HOST,
      publicBaseUrl: v.PUBLIC_BASE_URL,
      bodyLimitBytes: v.HTTP_BODY_LIMIT_BYTES,
    },
    database: {
      url: v.DATABASE_URL,
      embeddedDataDir: v.EMBEDDED_DATABASE_DIR,
      poolMax: v.DATABASE_POOL_MAX,
      acquireTimeoutMs: v.DATABASE_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: v.DATABASE_STATEMENT_TIMEOUT_MS,
      startupTimeoutMs: v.DATABASE_STARTUP_TIMEOUT_SECONDS * 1000,
      migrateOnStart: v.MIGRATE_ON_START,
    },
    optimove: {
      apiUrl: v.OPTIMOVE_API_URL,
      gatewayApiUrl: v.OPTIMOVE_GATEWAY_API_URL ?? (v.OPTIMOVE_API_URL && new URL(v.OPTIMOVE_API_URL).origin),
      apiKey: v.OPTIMOVE_API_KEY,
      timezone: v.OPTIMOVE_TIMEZONE,
      registerOnBoot: v.OPTIMOVE_REGISTER_ON_BOOT,
      rateLimit: v.OPTIMOVE_RATE_LIMIT,
    },
    listener: { token: v.LISTENER_TOKEN },
    gateway: { token: v.GATEWAY_TOKEN, timeoutMs: v.GATEWAY_TIMEOUT_MS, marginMs: v.GATEWAY_MARGIN_MS },
    clearance: {
      safetyMarginSeconds: v.CLEARANCE_SAFETY_MARGIN_SECONDS,
      reportReserveSeconds: v.CLEARANCE_REPORT_RESERVE_SECONDS,
      sliceConcurrency: v.CLEARANCE_SLICE_CONCURRENCY,
      workersEnabled: v.CLEARANCE_WORKERS_ENABLED,
      leaseSeconds: v.CLEARANCE_LEASE_SECONDS,
    },
    promo: { apiUrl: v.PROMO_API_URL, apiToken: v.PROMO_API_TOKEN, concurrency: v.PROMO_CONCURRENCY },
    profile: { apiUrl: v.PROFILE_API_URL, apiToken: v.PROFILE_API_TOKEN },
    policyFile: v.POLICY_FILE,
    audit: { apiKeys: v.AUDIT_API_KEYS, rateLimit: v.AUDIT_API_RATE_LIMIT, retentionMonths: v.AUDIT_RETENTION_MONTHS },
    log: { level: v.LOG_LEVEL },
    shutdown: { drainMs: v.SHUTDOWN_DRAIN_MS, timeoutMs: v.SHUTDOWN_TIMEOUT_MS },
  };
}

function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });

    return true;
  } catch {
    return false;
  }
}
