import { connectWithRetry, describeDatabaseUrl, migrationsAreApplied } from '@app/database';
import { Logger } from '@nestjs/common';
import { verifyAuditChain } from './chain-verifier';

/** Exit codes of {@link runAuditVerifyCli}. */
export const VERIFY_EXIT = { ok: 0, error: 1, usage: 2, fault: 3 } as const;

/**
 * `audit:verify [--from N] [--to N]` against `env.DATABASE_URL`: prints the verification as one JSON line and
 * returns the exit code (0 ok, 3 fault found, 2 usage, 1 error). Never migrates: a schema without the chain is an
 * error.
 */
export async function runAuditVerifyCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  print: (line: string) => void,
): Promise<number> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if ((argv[i] !== '--from' && argv[i] !== '--to') || value === undefined || !/^[1-9][0-9]*$/.test(value)) {
      print(JSON.stringify({ error: 'usage: audit:verify [--from <seq>] [--to <seq>]' }));

      return VERIFY_EXIT.usage;
    }
    args.set(argv[i], value);
  }
  const url = env.DATABASE_URL;
  if (!url) {
    print(JSON.stringify({ error: 'DATABASE_URL is required' }));

    return VERIFY_EXIT.usage;
  }
  const logger = new Logger('AuditVerify');
  const dataSource = await connectWithRetry(
    { url, poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 0, applicationName: 'optimove-clearance-verify' },
    10_000,
    logger,
  );
  try {
    if (!(await migrationsAreApplied(dataSource))) {
      print(JSON.stringify({ error: `the schema at ${describeDatabaseUrl(url)} has pending migrations` }));

      return VERIFY_EXIT.error;
    }
    const from = args.get('--from');
    const to = args.get('--to');
    const result = await verifyAuditChain(dataSource, {
      fromSeq: from === undefined ? undefined : Number(from),
      toSeq: to === undefined ? undefined : Number(to),
    });
    print(JSON.stringify(result));

    return result.ok ? VERIFY_EXIT.ok : VERIFY_EXIT.fault;
  } finally {
    await dataSource.destroy();
  }
}
