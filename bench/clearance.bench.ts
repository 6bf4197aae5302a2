/**
 * Scheduled clearance end to end: the built service and sandbox as separate processes (sandbox at zero latency,
 * rate limit off), one campaign of BENCH_CLEARANCE_SIZES customers each (default 100,000 then 1,000,000), every
 * customer fetched, decided, activated (all carry a promo code), audited and reported. Prints customers per second,
 * the share of each phase, and the service's peak memory (VmHWM). Targets: 1,000,000 in at most 3 minutes under
 * 400 MB, and the time for 1,000,000 at most 11 times the time for 100,000.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { freePort, SERVICE_MAIN, spawnNode, waitForStatus } from '../test/support/processes';
import { createTestDatabase } from '../test/support/test-database';
import { cpuSecondsByProcess, formatCpu, verdict } from './support/stats';

const SANDBOX_MAIN = join(__dirname, '../dist/apps/sandbox/main.js');
const SIZES = (process.env.BENCH_CLEARANCE_SIZES ?? '100000,1000000').split(',').map(Number);
const LISTENER_TOKEN = 'bench-listener-token-0123456789';

interface Run {
  size: number;
  seconds: number;
  peakMb: number;
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);

  return kb / 1024;
}

async function clear(size: number): Promise<Run> {
  const database = await createTestDatabase(`bench_clearance_${size}`);
  const [optimovePort, promoPort, profilePort, servicePort] = await Promise.all([1, 2, 3, 4].map(() => freePort()));
  const sandbox = spawnNode(SANDBOX_MAIN, {
    SANDBOX_OPTIMOVE_PORT: String(optimovePort),
    SANDBOX_PROMO_PORT: String(promoPort),
    SANDBOX_PROFILE_PORT: String(profilePort),
    SANDBOX_RATE_LIMIT: 'off',
  });
  const service = spawnNode(
    SERVICE_MAIN,
    {
      DATABASE_URL: database.url,
      PORT: String(servicePort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LISTENER_TOKEN,
      OPTIMOVE_API_URL: `http://127.0.0.1:${optimovePort}/current`,
      OPTIMOVE_API_KEY: 'sandbox-api-key',
      OPTIMOVE_TIMEZONE: 'Europe/London',
      OPTIMOVE_RATE_LIMIT: 'off',
      PROMO_API_URL: `http://127.0.0.1:${promoPort}`,
      PROFILE_API_URL: `http://127.0.0.1:${profilePort}`,
      PROMO_CONCURRENCY: process.env.BENCH_PROMO_CONCURRENCY ?? '64',
      CLEARANCE_SLICE_CONCURRENCY: process.env.BENCH_SLICE_CONCURRENCY ?? '4',
    },
    (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  );
  const db = new Client({ connectionString: database.url });
  try {
    await waitForStatus(`http://127.0.0.1:${servicePort}/health/ready`, 200, 60_000);
    await db.connect();
    const optimove = `http://127.0.0.1:${optimovePort}`;
    const post = async (url: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    await post(
      `${optimove}/current/General/RegisterEventListener`,
      { EventTypeID: 5, ListenerURL: `http://127.0.0.1:${servicePort}/optimove/events?token=${LISTENER_TOKEN}` },
      { 'x-api-key': 'sandbox-api-key' },
    );
    const campaign = (await (
      await post(`${optimove}/control/campaigns`, {
        size,
        promoCodes: process.env.BENCH_NO_PROMO ? [] : ['BENCH-A', 'BENCH-B'],
        leadTimeMinutes: 30,
      })
    ).json()) as { campaignId: number };

    const cpuBefore = cpuSecondsByProcess();
    const started = Date.now();
    const notified = (await (await post(`${optimove}/control/campaigns/${campaign.campaignId}/notify`, {})).json()) as {
      body: { clearanceId: string };
      latencyMs: number;
    };
    const clearanceId = notified.body.clearanceId;
    let lastPrint = 0;
    const heap = { used: 0, total: 0, external: 0 };
    for (;;) {
      const metrics = await fetch(`http://127.0.0.1:${servicePort}/metrics`)
        .then((response) => response.text())
        .catch(() => '');
      const gauge = (name: string) =>
        Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(metrics)?.[1] ?? 0);
      heap.used = Math.max(heap.used, gauge('nodejs_heap_size_used_bytes') / 2 ** 20);
      heap.total = Math.max(heap.total, gauge('nodejs_heap_size_total_bytes') / 2 ** 20);
      heap.external = Math.max(heap.external, gauge('nodejs_external_memory_bytes') / 2 ** 20);
      const {
        rows: [row],
      } = await db.query(`SELECT status, total, approved + denied AS decided, reported FROM clearances WHERE id = $1`, [
        clearanceId,
      ]);
      if (row.status === 'completed' || row.status === 'failed') {
        break;
      }
      if (Date.now() - lastPrint > 10_000) {
        lastPrint = Date.now();
        process.stdout.write(
          `  ${((Date.now() - started) / 1000).toFixed(0)} s: fetched ${row.total}, ` +
            `decided ${row.decided}, reported ${row.reported}\n`,
        );
      }
      await sleep(250);
    }
    const seconds = (Date.now() - started) / 1000;
    const cpu = new Map<string, number>();
    for (const [pid, { name, seconds: used }] of cpuSecondsByProcess()) {
      const group =
        pid === service.child.pid
          ? 'service'
          : pid === sandbox.child.pid
            ? 'sandbox'
            : name === 'postgres'
              ? 'postgres'
              : pid === process.pid
                ? 'bench'
                : undefined;
      if (group !== undefined) {
        cpu.set(group, (cpu.get(group) ?? 0) + used - (cpuBefore.get(pid)?.seconds ?? 0));
      }
    }
    const {
      rows: [phases],
    } = await db.query(
      `SELECT status, total, approved, denied, reported, deadline_met,
              extract(epoch FROM fetch_completed_at - created_at) AS fetch_s,
              (SELECT extract(epoch FROM max(done_at) - min(done_at))
                 FROM clearance_slices WHERE clearance_id = c.id) AS decide_s,
              (SELECT extract(epoch FROM max(sent_at) - min(created_at))
                 FROM optimove_reports WHERE clearance_id = c.id) AS report_s,
              (SELECT count(*) FROM optimove_reports WHERE clearance_id = c.id) AS reports
         FROM clearances c WHERE id = $1`,
      [clearanceId],
    );
    const peakMb = peakRssMb(service.child.pid!);
    const share = (s: number) => `${((100 * Number(s)) / seconds).toFixed(0)}%`;
    console.log(
      `${size.toLocaleString()} customers: ${phases.status} in ${seconds.toFixed(1)} s = ` +
        `${Math.round(size / seconds).toLocaleString()} customers/s; listener answered in ${notified.latencyMs} ms`,
    );
    console.log(
      `  approved ${phases.approved}, denied ${phases.denied}, ` +
        `reported ${phases.reported} in ${phases.reports} calls, deadline met ${phases.deadline_met}`,
    );
    console.log(
      `  phases (overlapping, as share of the total): fetch ${share(phases.fetch_s)}, ` +
        `decide ${share(phases.decide_s)}, report ${share(phases.report_s)}`,
    );
    console.log(
      `  service peak memory (VmHWM): ${peakMb.toFixed(0)} MB; sampled peaks: V8 heap used ` +
        `${heap.used.toFixed(0)} MB of ${heap.total.toFixed(0)} MB, external ${heap.external.toFixed(0)} MB`,
    );
    console.log(`  CPU: ${formatCpu(cpu)}`);
    const perCustomer = (group: string) => `${(((cpu.get(group) ?? 0) * 1e6) / size).toFixed(0)} µs`;
    console.log(
      `  CPU a customer: service ${perCustomer('service')}, postgres ${perCustomer('postgres')}, ` +
        `sandbox ${perCustomer('sandbox')}`,
    );

    return { size, seconds, peakMb };
  } finally {
    await db.end().catch(() => undefined);
    service.child.kill('SIGTERM');
    sandbox.child.kill('SIGTERM');
    await Promise.all([service.exited(), sandbox.exited()]);
    await database.drop();
  }
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (const size of SIZES) {
    runs.push(await clear(size));
  }
  const million = runs.find((run) => run.size === 1_000_000);
  const hundredThousand = runs.find((run) => run.size === 100_000);
  if (million) {
    console.log(`1,000,000 within 3 minutes: ${verdict(million.seconds <= 180)} (${million.seconds.toFixed(0)} s)`);
    console.log(`peak memory under 400 MB: ${verdict(million.peakMb < 400)} (${million.peakMb.toFixed(0)} MB)`);
  }
  if (million && hundredThousand) {
    const ratio = million.seconds / hundredThousand.seconds;
    console.log(`linear cost (1M / 100k <= 11): ${verdict(ratio <= 11)} (${ratio.toFixed(1)})`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
