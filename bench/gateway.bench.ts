/**
 * Prints the triggered gateway's figures against the sandbox's profile source and promo system (no added latency):
 * - saturated throughput of `POST /optimove/triggered` next to a bare NestJS-on-Fastify route that only parses the
 *   same JSON body (target: the gateway at >= 25 % of the bare route);
 * - a fixed 500 requests/s for 30 s: p50, p99 (target <= 25 ms), max, and answers later than the budget (target 0),
 *   and the bare route at the same rate for 10 s, as the machine's own floor;
 * - the promo system 3 s slow: every answer `allowed: false` within the budget;
 * - the cost of the hand-written payload validation, in process.
 * The service runs from the build (`npm run build` first, skipped with BENCH_SKIP_BUILD=1) as a child process, as do
 * the sandbox and the bare route; PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * in a database of its own that is dropped at the end. Run: `npx tsx bench/gateway.bench.ts`.
 * Knobs: BENCH_SATURATION_SECONDS (12, per side), BENCH_SATURATION_ROUNDS (3 alternating turns of the two sides),
 * BENCH_WARM_UP_SECONDS (8, of the gateway before it), BENCH_FIXED_SECONDS (30), BENCH_CONNECTIONS (32,128,256: the
 * concurrencies a calibration pass tries, 3 s each, to find where each side saturates),
 * BENCH_NO_PROMO=1 (payloads without promo codes),
 * BENCH_SERVICE_NODE_ARGS (node's options for the service, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { parseGatewayRequest } from '@app/triggered-gateway';
import { execSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { freePort, SERVICE_MAIN, spawnNode, SpawnedProcess, waitForStatus } from '../test/support/processes';
import { createTestDatabase } from '../test/support/test-database';
import { closedLoop, openLoop } from './support/http-load';
import { cpuDuring, formatCpu, formatMs, percentile, verdict } from './support/stats';

const ROOT = join(__dirname, '..');
const SANDBOX_MAIN = join(ROOT, 'dist/apps/sandbox/main.js');
const BARE_SERVER = join(__dirname, 'support/bare-nest-server.ts');
const TOKEN = 'bench-gateway-token';
const TIMEOUT_MS = 2000;
const MARGIN_MS = 250;
const BUDGET_MS = TIMEOUT_MS - MARGIN_MS;
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 12);
const SATURATION_ROUNDS = Number(process.env.BENCH_SATURATION_ROUNDS ?? 3);
const WARM_UP_SECONDS = Number(process.env.BENCH_WARM_UP_SECONDS ?? 8);
const FIXED_RATE = 500;
const FIXED_SECONDS = Number(process.env.BENCH_FIXED_SECONDS ?? 30);
const FIXED_WARM_UP_SECONDS = 5;
/** The bare route at the fixed rate, for the machine's own latency at that rate (printed, not judged). */
const FLOOR_SECONDS = 10;
// A closed loop saturates a server only with enough requests in flight to cover its waits: the bare route is CPU-bound
// at 32, the gateway (which waits on the sandbox and on group commits) was not (a fifth of the CPU idle, and a third
// more throughput at 128). A calibration pass runs each side briefly at every level; the measured turns then run each
// side at its best level.
const CONNECTION_LEVELS = (process.env.BENCH_CONNECTIONS ?? '32,128,256')
  .split(',')
  .map(Number)
  .filter((level) => Number.isInteger(level) && level > 0);

let sequence = 0;

/** A gateway payload as Optimove sends it, for a customer never asked before (so no repeat short-cut applies). */
function nextBody(campaignId: number): string {
  sequence++;

  return JSON.stringify({
    user: { user_id: `B${sequence}`, is_visitor: false },
    campaign: {
      id: campaignId,
      series_id: 501,
      notes: 'bench campaign',
      tags: ['bench'],
      action: {
        id: 1,
        name: 'Bench action',
        promo_codes: process.env.BENCH_NO_PROMO === '1' ? null : ['WB10'],
        channels: [{ id: 504, name: 'Email', brand_id: null, templates: [{ id: 1, name: 'Bench template' }] }],
      },
    },
  });
}

interface Sample {
  latencyMs: number;
  status: number;
  allowed: boolean | undefined;
}

function allowedIn(body: string): boolean | undefined {
  try {
    return (JSON.parse(body) as { allowed?: boolean }).allowed;
  } catch {
    return undefined;
  }
}

/** One side's saturated run at one concurrency: its rate over the turns, and the CPU seconds of each process group. */
interface SideRun {
  result: number;
  cpu: Map<string, number>;
}

const CALIBRATION_SECONDS = 3;

/** Reasons that mean the gateway could not decide (a dependency, the budget or the audit failed it). */
const DEGRADED_REASONS = /^(TIMEOUT|.*_UNAVAILABLE|INTERNAL_ERROR)$/;

/** Adds one turn of a saturated run to the totals: its rate weighted by its share of the turns, its CPU seconds. */
function addRound(total: SideRun, round: SideRun, rounds: number): void {
  total.result += round.result / rounds;
  for (const [group, seconds] of round.cpu) {
    total.cpu.set(group, (total.cpu.get(group) ?? 0) + seconds);
  }
}

/** Closed loop: `connections` requests in flight for `seconds`; answers with status 200 per second. */
async function saturate(
  url: string,
  path: string,
  campaignId: number,
  seconds: number,
  connections: number,
): Promise<number> {
  const result = await closedLoop(Number(new URL(url).port), path, () => nextBody(campaignId), connections, seconds);
  if (result.failed > 0) {
    console.log(`  (${result.failed} requests failed or were not answered 200 in a saturated run)`);
  }

  return result.rate;
}

/** Open loop at `rate` for `seconds` (see {@link openLoop}); latency counted from each request's due time. */
async function fixedRate(url: string, path: string, campaignId: number, rate: number, seconds: number) {
  const samples = await openLoop(Number(new URL(url).port), path, () => nextBody(campaignId), rate, seconds);

  return samples.map((sample): Sample => ({ ...sample, allowed: allowedIn(sample.body) }));
}

function benchValidation(): number {
  const payload = JSON.parse(nextBody(1)) as unknown;
  const rounds = 200_000;
  for (let i = 0; i < 10_000; i++) {
    parseGatewayRequest(payload);
  }
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    parseGatewayRequest(payload);
  }

  return ((performance.now() - started) * 1000) / rounds;
}

/** Sum and count of each step the service measures (its histograms), by step. */
/** `decisions_total` of the triggered flow so far, by reason (`NONE` for approvals), from the service's metrics. */
async function decisionReasons(serviceUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${serviceUrl}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^decisions_total\{([^}]*)\} (\S+)/gm)) {
    const labels = match[1];
    const reason = /reason="([^"]*)"/.exec(labels)?.[1];
    if (labels.includes('flow="triggered"') && reason !== undefined) {
      counts.set(reason, (counts.get(reason) ?? 0) + Number(match[2]));
    }
  }

  return counts;
}

function difference(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const result = new Map<string, number>();
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) {
      result.set(key, delta);
    }
  }

  return result;
}

async function stepTotals(serviceUrl: string): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(`${serviceUrl}/metrics`)).text();
  const steps: [string, string][] = [
    ['request', 'gateway_request_duration_seconds'],
    ['profile', 'profile_request_duration_seconds'],
    ['promo', 'promo_request_duration_seconds'],
    ['audit commit', 'audit_writer_commit_seconds'],
    ['gc', 'nodejs_gc_duration_seconds'],
  ];
  const total = (name: string, suffix: string) =>
    [...text.matchAll(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? (\\S+)`, 'gm'))].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );

  return new Map(steps.map(([label, name]) => [label, { sum: total(name, 'sum'), count: total(name, 'count') }]));
}

/** The mean time of each step between two {@link stepTotals}. */
function stepMeans(
  before: Map<string, { sum: number; count: number }>,
  after: Map<string, { sum: number; count: number }>,
): string {
  return [...after.entries()]
    .filter(([label]) => label !== 'gc')
    .map(([label, { sum, count }]) => {
      const calls = count - (before.get(label)?.count ?? 0);
      const seconds = sum - (before.get(label)?.sum ?? 0);

      return `${label} ${calls === 0 ? '-' : formatMs((seconds / calls) * 1000)}`;
    })
    .join(', ');
}

/**
 * Transactions committed in the bench's database so far (each statement outside a transaction is one). Backends
 * report their counts at most once a second, so read it a moment after the load stops.
 */
async function commitsIn(databaseUrl: string, name: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ commits: string }>(
      'SELECT pg_stat_get_db_xact_commit(oid)::text AS commits FROM pg_database WHERE datname = $1',
      [name],
    );

    return Number(rows[0]?.commits ?? 0);
  } finally {
    await client.end();
  }
}

async function startChild(
  entry: string,
  env: Record<string, string>,
  readyUrl: string,
  nodeArgs: string[] = [],
): Promise<SpawnedProcess> {
  const child = spawnNode(entry, env, nodeArgs);
  try {
    await waitForStatus(readyUrl, 200, 60_000);
  } catch (error) {
    console.error(child.output());
    throw error;
  }

  return child;
}

/** The bare route, compiled on the fly by tsx's loader. */
function spawnBare(port: number): SpawnedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', BARE_SERVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));

  return { child, output: () => output, exited: () => exit };
}

async function stopChild(child: SpawnedProcess | undefined): Promise<void> {
  if (child && child.child.exitCode === null) {
    child.child.kill('SIGTERM');
    await Promise.race([child.exited(), sleep(10_000)]);
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    console.log('building (npm run build; BENCH_SKIP_BUILD=1 skips it)...');
    execSync('npm run build --silent', { cwd: ROOT, stdio: 'inherit' });
  }
  console.log(`payload validation: ${benchValidation().toFixed(2)} µs a request (hand-written, in process)`);

  const database = await createTestDatabase('gateway_bench');
  const [promoPort, profilePort, optimovePort, servicePort, barePort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const promoUrl = `http://127.0.0.1:${promoPort}`;
  let sandbox: SpawnedProcess | undefined;
  let service: SpawnedProcess | undefined;
  let bare: SpawnedProcess | undefined;
  try {
    sandbox = await startChild(
      SANDBOX_MAIN,
      {
        SANDBOX_OPTIMOVE_PORT: String(optimovePort),
        SANDBOX_PROMO_PORT: String(promoPort),
        SANDBOX_PROFILE_PORT: String(profilePort),
        SANDBOX_RATE_LIMIT: 'off',
      },
      `${promoUrl}/control/faults`,
    );
    service = await startChild(
      SERVICE_MAIN,
      {
        NODE_ENV: 'production',
        DATABASE_URL: database.url,
        PORT: String(servicePort),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        GATEWAY_TOKEN: TOKEN,
        GATEWAY_TIMEOUT_MS: String(TIMEOUT_MS),
        GATEWAY_MARGIN_MS: String(MARGIN_MS),
        PROFILE_API_URL: `http://127.0.0.1:${profilePort}`,
        PROMO_API_URL: promoUrl,
        OPTIMOVE_API_URL: `http://127.0.0.1:${optimovePort}`,
        OPTIMOVE_API_KEY: 'sandbox-api-key',
        LISTENER_TOKEN: 'bench-listener-token',
      },
      `http://127.0.0.1:${servicePort}/health/ready`,
      (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
    );
    bare = spawnBare(barePort);
    for (let i = 0; i < 200 && !bare.output().includes('listening'); i++) {
      await sleep(100);
    }
    if (!bare.output().includes('listening')) {
      throw new Error(`the bare route did not start: ${bare.output()}`);
    }
    const serviceUrl = `http://127.0.0.1:${servicePort}`;
    const barePath = '/optimove/triggered';
    const gatewayPath = `/optimove/triggered?token=${TOKEN}`;

    // Warm-up: JIT, connection pools, the first partition and index pages, and PostgreSQL's first automatic analyze
    // of the new tables (with 2 s of warm-up, the first measured turn of the gateway ran a third slower than the
    // others).
    const mostConnections = Math.max(...CONNECTION_LEVELS);
    await saturate(serviceUrl, gatewayPath, 8000, WARM_UP_SECONDS, mostConnections);
    await saturate(`http://127.0.0.1:${barePort}`, barePath, 8000, 2, mostConnections);

    const label = (pid: number, name: string): string | undefined => {
      if (pid === process.pid) {
        return 'load generator';
      }
      if (pid === service?.child.pid) {
        return 'service';
      }
      if (pid === sandbox?.child.pid) {
        return 'sandbox';
      }
      if (pid === bare?.child.pid) {
        return 'bare route';
      }

      return name === 'postgres' ? 'postgres' : undefined;
    };
    // Calibration: where does each side saturate? Each level briefly, both sides; the best level is kept.
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const calibration: string[] = [];
    let bareLevel = CONNECTION_LEVELS[0];
    let gatewayLevel = CONNECTION_LEVELS[0];
    let bareBest = 0;
    let gatewayBest = 0;
    for (const connections of CONNECTION_LEVELS) {
      const bareRate = await saturate(bareUrl, barePath, 8001, CALIBRATION_SECONDS, connections);
      const gatewayRate = await saturate(serviceUrl, gatewayPath, 8002, CALIBRATION_SECONDS, connections);
      calibration.push(`${connections}: bare ${Math.round(bareRate)}/s, gateway ${Math.round(gatewayRate)}/s`);
      [bareLevel, bareBest] = bareRate > bareBest ? [connections, bareRate] : [bareLevel, bareBest];
      [gatewayLevel, gatewayBest] =
        gatewayRate > gatewayBest ? [connections, gatewayRate] : [gatewayLevel, gatewayBest];
    }
    await sleep(1000);

    // The two sides take turns, a few seconds at a time, each at its own level, and each side's figures are summed
    // over its turns: the machine's speed drifts by a third over a minute, which a single window on each side would
    // read as a ratio.
    const roundSeconds = SATURATION_SECONDS / SATURATION_ROUNDS;
    const bareRun: SideRun = { result: 0, cpu: new Map() };
    const gatewayRun: SideRun = { result: 0, cpu: new Map() };
    const turnRatios: number[] = [];
    let commits = 0;
    const reasonsBefore = await decisionReasons(serviceUrl);
    for (let round = 0; round < SATURATION_ROUNDS; round++) {
      const bareRound = await cpuDuring(() => saturate(bareUrl, barePath, 8001, roundSeconds, bareLevel), label);
      const commitsBefore = await commitsIn(database.url, database.name);
      const gatewayRound = await cpuDuring(
        () => saturate(serviceUrl, gatewayPath, 8002, roundSeconds, gatewayLevel),
        label,
      );
      // Outcomes are written behind the answers: the turn's last ones land within the pause and count with the turn
      // (the CPU of those few statements, spent in the pause, is not measured).
      await sleep(1000);
      commits += (await commitsIn(database.url, database.name)) - commitsBefore;
      addRound(bareRun, bareRound, SATURATION_ROUNDS);
      addRound(gatewayRun, gatewayRound, SATURATION_ROUNDS);
      turnRatios.push(gatewayRound.result / bareRound.result);
    }
    const reasons = difference(await decisionReasons(serviceUrl), reasonsBefore);
    const decided = [...reasons.values()].reduce((sum, count) => sum + count, 0);
    const degraded = [...reasons].reduce(
      (sum, [reason, count]) => sum + (DEGRADED_REASONS.test(reason) ? count : 0),
      0,
    );
    const bareRate = bareRun.result;
    const gatewayRate = gatewayRun.result;
    const ratio = gatewayRate / bareRate;
    const percent = (value: number): string => `${(value * 100).toFixed(1)} %`;
    const degradedShare = decided === 0 ? 1 : degraded / decided;
    console.log(`\nsaturated: calibration, ${CALIBRATION_SECONDS} s a side at each level: ${calibration.join('; ')}`);
    console.log(
      `  measured: ${SATURATION_SECONDS} s a side in ${SATURATION_ROUNDS} alternating turns, the bare route at ` +
        `${bareLevel} connections, the gateway at ${gatewayLevel}`,
    );
    console.log(`  bare NestJS + Fastify route: ${Math.round(bareRate)} requests/s`);
    console.log(`  gateway (profile + promo + audit commit): ${Math.round(gatewayRate)} requests/s`);
    console.log(
      `  the gateway's decisions: ${[...reasons]
        .sort((a, b) => b[1] - a[1])
        .map(([reason, count]) => `${reason} ${percent(count / Math.max(1, decided))}`)
        .join(', ')}; degraded (TIMEOUT, *_UNAVAILABLE, INTERNAL_ERROR): ${percent(degradedShare)}`,
    );
    console.log(
      `  ratio: ${percent(ratio)} (target >= 25 %, with under 0.5 % degraded) ` +
        `${verdict(ratio >= 0.25 && degradedShare < 0.005)}`,
    );
    console.log(`  ratio of each turn: ${turnRatios.map(percent).join(', ')}`);
    console.log(`  CPU during the bare run: ${formatCpu(bareRun.cpu)}`);
    console.log(`  CPU during the gateway run: ${formatCpu(gatewayRun.cpu)}`);
    const perRequest = (seconds: number | undefined): string =>
      `${(((seconds ?? 0) * 1e6) / (gatewayRate * SATURATION_SECONDS)).toFixed(0)} µs`;
    console.log(
      `  gateway CPU a request: service ${perRequest(gatewayRun.cpu.get('service'))}, ` +
        `postgres ${perRequest(gatewayRun.cpu.get('postgres'))}, sandbox ${perRequest(gatewayRun.cpu.get('sandbox'))}`,
    );
    const bareCpu = ((bareRun.cpu.get('bare route') ?? 0) * 1e6) / (bareRate * SATURATION_SECONDS);
    const serviceCpu = ((gatewayRun.cpu.get('service') ?? 0) * 1e6) / (gatewayRate * SATURATION_SECONDS);
    // This machine's speed drifts by a third between runs; the bare route's cost in the same run is the yardstick.
    const relative = (serviceCpu / bareCpu).toFixed(1);
    console.log(`  the bare route's CPU a request: ${bareCpu.toFixed(0)} µs; the service's is ${relative}x that`);
    console.log(
      `  PostgreSQL transactions a request: ${(commits / (gatewayRate * SATURATION_SECONDS)).toFixed(2)} ` +
        `(${commits} in the run)`,
    );

    await sleep(2000);
    // The load generator's own code is cold for this phase: a few seconds at the same rate, reported apart.
    const warmUp = await fixedRate(serviceUrl, gatewayPath, 8003, FIXED_RATE, FIXED_WARM_UP_SECONDS);
    const stepsBefore = await stepTotals(serviceUrl);
    const fixed = await fixedRate(serviceUrl, gatewayPath, 8003, FIXED_RATE, FIXED_SECONDS);
    const stepsAfter = await stepTotals(serviceUrl);
    const steps = stepMeans(stepsBefore, stepsAfter);
    const latencies = fixed.map((sample) => sample.latencyMs);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const late = fixed.filter((sample) => sample.latencyMs > BUDGET_MS || sample.status !== 200).length;
    const allowed = fixed.filter((sample) => sample.allowed === true).length;
    console.log(
      `\nfixed ${FIXED_RATE} requests/s for ${FIXED_SECONDS} s (${fixed.length} requests, ${allowed} allowed)`,
    );
    console.log(
      `  p50 ${formatMs(p50)}, p99 ${formatMs(p99)} (target <= 25 ms) ${verdict(p99 <= 25)}, ` +
        `max ${formatMs(Math.max(...latencies))}`,
    );
    console.log(
      `  answers later than the ${BUDGET_MS} ms budget or not 200: ${late} (target 0) ${verdict(late === 0)}`,
    );
    const windows = Array.from({ length: Math.ceil(FIXED_SECONDS / 5) }, (_, index) =>
      latencies.slice(index * 5 * FIXED_RATE, (index + 1) * 5 * FIXED_RATE),
    ).filter((window) => window.length > 0);
    console.log(`  p99 of each 5 s: ${windows.map((window) => formatMs(percentile(window, 99))).join(', ')}`);
    console.log(`  mean time inside the service, by step: ${steps}`);
    const gcSeconds = (stepsAfter.get('gc')?.sum ?? 0) - (stepsBefore.get('gc')?.sum ?? 0);
    const gcCount = (stepsAfter.get('gc')?.count ?? 0) - (stepsBefore.get('gc')?.count ?? 0);
    console.log(`  the service's garbage collection: ${gcCount} pauses, ${formatMs(gcSeconds * 1000)} in all`);
    const warmUpLatencies = warmUp.map((sample) => sample.latencyMs);
    console.log(
      `  before it, ${FIXED_WARM_UP_SECONDS} s of warm-up at the same rate (not counted): ` +
        `p50 ${formatMs(percentile(warmUpLatencies, 50))}, p99 ${formatMs(percentile(warmUpLatencies, 99))}`,
    );
    // The machine's own floor at this rate: the bare route, once the gateway's last writes have landed.
    await sleep(2000);
    const floorSamples = await fixedRate(bareUrl, barePath, 8005, FIXED_RATE, FLOOR_SECONDS);
    const floor = floorSamples.map((sample) => sample.latencyMs);
    console.log(
      `  for reference, the bare route at the same rate for ${FLOOR_SECONDS} s: ` +
        `p50 ${formatMs(percentile(floor, 50))}, p99 ${formatMs(percentile(floor, 99))}, ` +
        `max ${formatMs(Math.max(...floor))}`,
    );

    await fetch(`${promoUrl}/control/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: 3000 }),
    });
    const slow = await fixedRate(serviceUrl, gatewayPath, 8004, 100, 10);
    const slowLatencies = slow.map((sample) => sample.latencyMs);
    const slowAllowed = slow.filter((sample) => sample.allowed !== false).length;
    const slowLate = slow.filter((sample) => sample.latencyMs > BUDGET_MS).length;
    console.log(`\npromo system 3 s slow, 100 requests/s for 10 s (${slow.length} requests)`);
    console.log(
      `  p50 ${formatMs(percentile(slowLatencies, 50))}, p99 ${formatMs(percentile(slowLatencies, 99))}, ` +
        `max ${formatMs(Math.max(...slowLatencies))}`,
    );
    console.log(
      `  answers not allowed:false: ${slowAllowed}, later than the budget: ${slowLate} ` +
        `${verdict(slowAllowed === 0 && slowLate === 0)}`,
    );
  } finally {
    await Promise.all([stopChild(bare), stopChild(service), stopChild(sandbox)]);
    await database.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
