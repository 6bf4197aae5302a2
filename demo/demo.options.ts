import { isAbsolute, join } from 'node:path';

/** What the demo does, read from `DEMO_*` variables; every field has a default so that no configuration is needed. */
export interface DemoOptions {
  /** Size of the scheduled campaign's target group. @default 10000 */
  customers: number;
  /** Triggered requests fired at the gateway while the clearance runs. @default 500 */
  triggered: number;
  /** Seconds from the notification to `ClearanceRequiredBy`. @default 90 */
  leadSeconds: number;
  /** Keep the service and the sandbox up after the summary, until Ctrl-C. @default false */
  keepRunning: boolean;
  /** Where the embedded database and the log go. @default .data/demo-<timestamp> */
  dataDir: string;
  /** A PostgreSQL URL to use instead of the embedded database; `DATABASE_URL` is deliberately not used. */
  databaseUrl?: string;
}

/** A problem the user can fix; printed without a stack trace. */
export class DemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoError';
  }
}

export function readDemoOptions(env: NodeJS.ProcessEnv, root: string, now = new Date()): DemoOptions {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const text = env[name];
    if (text === undefined || text.trim() === '') {
      return fallback;
    }
    const value = Number(text.replace(/[_,]/g, ''));
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got '${text}')`);
    }

    return value;
  };
  const customers = integer('DEMO_CUSTOMERS', 10_000, 1, 1_000_000);
  const triggered = integer('DEMO_TRIGGERED', 500, 0, 100_000);
  const leadSeconds = integer('DEMO_LEAD_SECONDS', 90, 30, 3_600);
  const keep = (env.DEMO_KEEP_RUNNING ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(keep)) {
    problems.push(`DEMO_KEEP_RUNNING must be 1 or 0 (got '${env.DEMO_KEEP_RUNNING}')`);
  }
  const databaseUrl = env.DEMO_DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DEMO_DATABASE_URL must be a postgres:// URL');
  }
  if (problems.length > 0) {
    throw new DemoError(`invalid demo settings:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  const dataDir = env.DEMO_DATA_DIR?.trim() || join('.data', `demo-${stamp}`);

  return {
    customers,
    triggered,
    leadSeconds,
    keepRunning: keep === '1' || keep === 'true',
    dataDir: isAbsolute(dataDir) ? dataDir : join(root, dataDir),
    databaseUrl,
  };
}
