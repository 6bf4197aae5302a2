/**
 * Audit API at scale: loads BENCH_AUDIT_ROWS decisions (default 5,000,000) into a database of its own, starts the
 * built service on it, and prints the median and p95 of filtered pages (campaign, customer, reason with a time
 * range) and the export's rows per second. Targets: median under 50 ms; export at least 50,000 rows/s.
 */
import { applyMigrations, connectWithRetry } from '@app/database';
import { performance } from 'node:perf_hooks';
import { freePort, SERVICE_MAIN, spawnNode, waitForStatus } from '../test/support/processes';
import { createTestDatabase } from '../test/support/test-database';
import { formatMs, percentile, verdict } from './support/stats';

const ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 5_000_000);
const CHUNK = 250_000;
const CAMPAIGNS = 1_000;
const CUSTOMERS = 500_000;
const DAYS = 60;
const KEY = 'bench-auditor-key-0123456789';
const SAMPLES = 100;

async function main(): Promise<void> {
  const database = await createTestDatabase('bench_audit');
  const dataSource = await connectWithRetry(
    { url: database.url, poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 0, applicationName: 'bench' },
    10_000,
  );
  try {
    await applyMigrations(dataSource);
    await dataSource.query(`SELECT ensure_decision_partitions((now() - interval '${DAYS + 31} days')::date, 5)`);

    const loadStarted = performance.now();
    for (let offset = 0; offset < ROWS; offset += CHUNK) {
      await dataSource.query(
        `INSERT INTO decisions (id, decided_at, flow, campaign_id, customer_id, allowed, mode, policy, reason_codes,
                                reasons, checks, latency_ms)
         SELECT gen_random_uuid(),
                now() - (random() * interval '${DAYS} days'),
                CASE WHEN i % 4 = 0 THEN 'triggered' ELSE 'scheduled' END,
                (i % ${CAMPAIGNS})::text,
                'C' || ((i * 7919) % ${CUSTOMERS}),
                i % 10 >= 3,
                'enforce', 'default',
                CASE WHEN i % 10 >= 3 THEN '{}'::text[]
                     ELSE ARRAY[(ARRAY['COMPLIANCE_ACCOUNT_STATUS','COMPLIANCE_COUNTRY','COMPLIANCE_KYC',
                                       'PROFILE_NOT_FOUND','PROMO_REJECTED','TIMEOUT'])[1 + i % 6]] END,
                CASE WHEN i % 10 >= 3 THEN '[]'::jsonb ELSE '[{"code":"X","message":"bench"}]'::jsonb END,
                '[{"name":"profile","outcome":"pass","durationMs":3}]'::jsonb,
                (i % 40)
           FROM generate_series($1::bigint, $2::bigint) AS i`,
        [offset, Math.min(offset + CHUNK, ROWS) - 1],
      );
      process.stdout.write(`\rloaded ${Math.min(offset + CHUNK, ROWS).toLocaleString()} rows`);
    }
    await dataSource.query('ANALYZE decisions');
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    process.stdout.write(`\nloaded ${ROWS.toLocaleString()} rows in ${loadSeconds.toFixed(0)} s\n`);
  } finally {
    await dataSource.destroy();
  }

  const port = await freePort();
  const service = spawnNode(SERVICE_MAIN, {
    DATABASE_URL: database.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AUDIT_API_KEYS: `auditor:${KEY}`,
    AUDIT_API_RATE_LIMIT: '1000000/1',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForStatus(`${base}/health/ready`, 200, 60_000);
    const headers = { authorization: `Bearer ${KEY}` };
    const week = (n: number) => {
      const to = new Date(Date.now() - (n % 50) * 86_400_000);

      return `from=${new Date(to.getTime() - 7 * 86_400_000).toISOString()}&to=${to.toISOString()}`;
    };
    const scenarios: [string, (n: number) => string][] = [
      ['campaign', (n) => `campaignId=${(n * 37) % CAMPAIGNS}`],
      ['customer', (n) => `customerId=C${(n * 7919) % CUSTOMERS}`],
      ['reason + 7-day range', (n) => `reason=COMPLIANCE_COUNTRY&${week(n)}`],
      ['campaign + denied', (n) => `campaignId=${(n * 13) % CAMPAIGNS}&allowed=false`],
    ];
    let allMet = true;
    for (const [name, query] of scenarios) {
      const samples: number[] = [];
      for (let n = 0; n < SAMPLES; n++) {
        const started = performance.now();
        const response = await fetch(`${base}/audit/decisions?${query(n)}&limit=100`, { headers });
        await response.arrayBuffer();
        if (response.status !== 200) {
          throw new Error(`${name}: status ${response.status}`);
        }
        samples.push(performance.now() - started);
      }
      const median = percentile(samples, 50);
      allMet &&= median < 50;
      console.log(
        `page by ${name.padEnd(22)} median ${formatMs(median)}  p95 ${formatMs(percentile(samples, 95))}  ` +
          `${verdict(median < 50)} (target median < 50 ms)`,
      );
    }

    const exportStarted = performance.now();
    const response = await fetch(`${base}/audit/decisions/export?format=ndjson&${week(0)}`, { headers });
    let rows = 0;
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
        rows += 1;
      }
    }
    const exportSeconds = (performance.now() - exportStarted) / 1000;
    const rate = rows / exportSeconds;
    allMet &&= rate >= 50_000;
    console.log(
      `export (7 days, NDJSON)   ${rows.toLocaleString()} rows in ${exportSeconds.toFixed(1)} s = ` +
        `${Math.round(rate).toLocaleString()} rows/s  ${verdict(rate >= 50_000)} (target >= 50,000 rows/s)`,
    );
    console.log(allMet ? 'all audit API targets met' : 'some audit API targets missed');
  } finally {
    service.child.kill('SIGTERM');
    await service.exited();
    await database.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
