/**
 * Verifies the audit hash chain at DATABASE_URL: `npx tsx scripts/audit-verify.ts [--from N] [--to N]`.
 * Prints one JSON line; exits 0 when the chain is intact, 3 when a fault was found, 2 on bad usage, 1 on error.
 */
import 'reflect-metadata';
import { runAuditVerifyCli } from '@app/audit';

runAuditVerifyCli(process.argv.slice(2), process.env, (line) => process.stdout.write(`${line}\n`))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
