/**
 * Prints the throughput of the compliance rules (customers/s, in process) and of the group-committing audit writer
 * (decisions committed/s to PostgreSQL at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres; the
 * bench creates and drops its own database). Targets: >= 1,000,000 customers/s and >= 20,000 decisions/s.
 * Run: `npx tsx bench/decisions.bench.ts`.
 */
import { AuditWriter, insertDecisions } from '@app/audit';
import { compileComplianceRules, evaluateCompliance, Profile } from '@app/compliance';
import { applyMigrations, connectWithRetry } from '@app/database';
import { Decision } from '@app/decisions';
import { Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { DataSource } from 'typeorm';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PROFILES = 1_000_000;
const DECISIONS = 200_000;

function format(value: number): string {
  return Math.round(value).toLocaleString('en-GB');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);

  return sorted[Math.floor(sorted.length / 2)];
}

function benchCompliance(): void {
  const statuses = ['active', 'active', 'active', 'closed', 'suspended'];
  const countries = ['GB', 'IE', 'DE', 'US', 'MT', 'se'];
  const profiles: Profile[] = Array.from({ length: PROFILES }, (_, n) => ({
    customerId: `C${n}`,
    accountStatus: n % 97 === 0 ? undefined : statuses[n % statuses.length],
    country: countries[n % countries.length],
    depositTotal: (n * 37) % 1000,
    kycVerified: n % 11 !== 0,
    selfExcluded: n % 53 === 0,
  }));
  const rules = compileComplianceRules({
    accountStatuses: ['active'],
    minDepositTotal: 100,
    allowedCountries: [],
    blockedCountries: ['US'],
    requireKyc: true,
    denySelfExcluded: true,
  });

  const rates: number[] = [];
  let denied = 0;
  for (let pass = 0; pass < 5; pass++) {
    denied = 0;
    const started = performance.now();
    for (const profile of profiles) {
      if (evaluateCompliance(profile, rules).length > 0) {
        denied++;
      }
    }
    rates.push(PROFILES / ((performance.now() - started) / 1000));
  }
  console.log(
    `compliance rules: ${format(median(rates))} customers/s (median of 5 passes over ${format(PROFILES)} profiles, ` +
      `${format(denied)} denied; target >= 1,000,000)`,
  );
}

function decision(clearanceId: string, n: number): Decision {
  const allowed = n % 4 !== 0;

  return {
    id: randomUUID(),
    flow: 'scheduled',
    campaignId: '4242',
    actionId: String(n % 3),
    seriesId: null,
    clearanceId,
    customerId: `C${n}`,
    isVisitor: false,
    allowed,
    mode: 'enforce',
    policy: 'default',
    reasons: allowed ? [] : [{ code: 'COMPLIANCE_KYC', message: 'KYC is not verified' }],
    checks: [
      { name: 'profile', outcome: 'pass', durationMs: 3.25 },
      { name: 'compliance', outcome: allowed ? 'pass' : 'fail', durationMs: 0.002 },
      { name: 'promo', outcome: 'skipped', durationMs: 0, detail: 'no promo code' },
    ],
    decidedAt: new Date().toISOString(),
    latencyMs: 4,
    reportedAt: null,
  };
}

/** `callers` concurrent callers each record `perCall` decisions at a time until `total` are committed. */
async function runWriter(writer: AuditWriter, callers: number, perCall: number, total: number): Promise<number> {
  const clearanceId = randomUUID();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < total) {
        const batch: Decision[] = [];
        for (let i = 0; i < perCall && next < total; i++) {
          batch.push(decision(clearanceId, next++));
        }
        await writer.record(batch);
      }
    }),
  );

  return total / ((performance.now() - started) / 1000);
}

const BULK_CHUNK = 10_000;

/** The same rows loaded as fast as one connection can: big multi-row statements, one after another. */
async function runBulkLoad(dataSource: DataSource, total: number): Promise<number> {
  const clearanceId = randomUUID();
  const started = performance.now();
  for (let offset = 0; offset < total; offset += BULK_CHUNK) {
    const rows = Array.from({ length: Math.min(BULK_CHUNK, total - offset) }, (_, i) =>
      decision(clearanceId, offset + i),
    );
    await insertDecisions(dataSource, rows);
  }

  return total / ((performance.now() - started) / 1000);
}

async function benchAuditWriter(): Promise<void> {
  const name = `bench_decisions_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const logger = new Logger('bench');
  logger.log = () => undefined;
  const dataSource = await connectWithRetry(
    { url: url.toString(), poolMax: 8, acquireTimeoutMs: 5000, statementTimeoutMs: 30_000, applicationName: 'bench' },
    10_000,
    logger,
  );
  try {
    await applyMigrations(dataSource, logger);
    // The writer's defaults: batches of up to 1,000, 2 ms delay, 2 statements in flight.
    const writer = new AuditWriter(dataSource);
    await runWriter(writer, 100, 1, 5_000);

    const before = writer.stats;
    const single = await runWriter(writer, 2000, 1, DECISIONS);
    const afterSingle = writer.stats;
    const sliced = await runWriter(writer, 8, 250, DECISIONS);
    const afterSliced = writer.stats;
    await writer.close();
    const bulk = await runBulkLoad(dataSource, DECISIONS);

    const statements = (from: typeof before, to: typeof before): number => to.statements - from.statements;
    console.log(
      `audit writer, 2,000 concurrent callers of 1 decision: ${format(single)} decisions/s committed ` +
        `(${format(DECISIONS)} in ${statements(before, afterSingle)} statements, ` +
        `mean ${format(DECISIONS / statements(before, afterSingle))} a statement; target >= 20,000)`,
    );
    console.log(
      `audit writer, 8 callers of 250 decisions: ${format(sliced)} decisions/s committed ` +
        `(${format(DECISIONS)} in ${statements(afterSingle, afterSliced)} statements)`,
    );
    const ratio = single / bulk;
    console.log(
      `bulk load of the same rows (one statement of ${format(BULK_CHUNK)} at a time, one connection): ` +
        `${format(bulk)} decisions/s; writer / bulk = ${ratio.toFixed(2)} ` +
        `(target >= 0.50: ${ratio >= 0.5 ? 'PASS' : 'MISS'}); ` +
        `writer >= 20,000/s: ${single >= 20_000 ? 'PASS' : 'MISS'}`,
    );
  } finally {
    await dataSource.destroy();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function main(): Promise<void> {
  benchCompliance();
  await benchAuditWriter();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
