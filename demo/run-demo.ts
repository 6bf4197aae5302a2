import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChildProcesses, freePort, RunningChild } from './child-processes';
import { DemoError, DemoOptions, readDemoOptions } from './demo.options';
import { BurstOutcome, CampaignSummary, ClearanceView, FINISHED_STATUSES } from './demo.types';
import { describeAnswer, requestJson } from './json-http';
import { describeProgress, formatCount, formatSeconds, ProgressDisplay } from './progress.display';
import { renderQueryHints, renderSummary } from './summary.report';

const ROOT = resolve(__dirname, '..');
const SANDBOX_MAIN = 'dist/apps/sandbox/main.js';
const SERVICE_MAIN = 'dist/apps/service/apps/service/src/main.js';
const TIMEZONE = 'Europe/London';
const OPTIMOVE_RATE_LIMIT = '50/10';
const GATEWAY_TIMEOUT_MS = 2000;
const READY_TIMEOUT_MS = 60_000;
const AFTER_DEADLINE_GRACE_MS = 30_000;
const SCHEDULED_PROMO_CODES = ['WELCOME-50', 'FREE-SPINS-20'];
const TRIGGERED_PROMO_CODE = 'RELOAD-10';

const out = process.stdout;
const bold = (text: string): string => (out.isTTY && !process.env.NO_COLOR ? `\x1b[1m${text}\x1b[0m` : text);
const say = (line = ''): boolean => out.write(`${line}\n`);
const secret = (): string => randomBytes(18).toString('base64url');

/** Addresses and credentials of one run; the keys and tokens are fresh random values each time. */
interface DemoSetup {
  optimoveUrl: string;
  promoUrl: string;
  profileUrl: string;
  serviceUrl: string;
  optimoveApiKey: string;
  listenerToken: string;
  gatewayToken: string;
  adminKey: string;
  auditorKey: string;
}

async function setUp(): Promise<DemoSetup> {
  const [optimove, promo, profile, service] = [await freePort(), await freePort(), await freePort(), await freePort()];

  return {
    optimoveUrl: `http://127.0.0.1:${optimove}`,
    promoUrl: `http://127.0.0.1:${promo}`,
    profileUrl: `http://127.0.0.1:${profile}`,
    serviceUrl: `http://127.0.0.1:${service}`,
    optimoveApiKey: `demo-${secret()}`,
    listenerToken: secret(),
    gatewayToken: secret(),
    adminKey: secret(),
    auditorKey: secret(),
  };
}

/** A path as the user can type it: relative when under the current directory, else absolute. */
function shown(path: string): string {
  const fromHere = relative(process.cwd(), path);

  return fromHere && !fromHere.startsWith('..') && !isAbsolute(fromHere) ? fromHere : path;
}

function port(url: string): string {
  return new URL(url).port;
}

/** Only what each app needs: nothing leaks in from the user's environment (a real OPTIMOVE_API_URL, say). */
function baseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT']) {
    const value = process.env[name];
    if (value !== undefined) {
      env[name] = value;
    }
  }

  return env;
}

function sandboxEnvironment(setup: DemoSetup): Record<string, string> {
  return {
    ...baseEnvironment(),
    SANDBOX_HOST: '127.0.0.1',
    SANDBOX_OPTIMOVE_PORT: port(setup.optimoveUrl),
    SANDBOX_PROMO_PORT: port(setup.promoUrl),
    SANDBOX_PROFILE_PORT: port(setup.profileUrl),
    SANDBOX_API_KEY: setup.optimoveApiKey,
    SANDBOX_TIMEZONE: TIMEZONE,
    SANDBOX_RATE_LIMIT: OPTIMOVE_RATE_LIMIT,
    SANDBOX_LOG: '1',
  };
}

function serviceEnvironment(setup: DemoSetup, options: DemoOptions): Record<string, string> {
  return {
    ...baseEnvironment(),
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: port(setup.serviceUrl),
    PUBLIC_BASE_URL: setup.serviceUrl,
    ...(options.databaseUrl
      ? { DATABASE_URL: options.databaseUrl }
      : {
          EMBEDDED_DATABASE_DIR: join(options.dataDir, 'pglite'),
          // PGlite is one session behind a socket: queries from many pooled connections at once get mixed up
          // there, so the embedded run keeps to two connections and one slice at a time.
          DATABASE_POOL_MAX: '2',
          CLEARANCE_SLICE_CONCURRENCY: '1',
        }),
    LISTENER_TOKEN: setup.listenerToken,
    GATEWAY_TOKEN: setup.gatewayToken,
    GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS),
    AUDIT_API_KEYS: `admin:${setup.adminKey},auditor:${setup.auditorKey}`,
    OPTIMOVE_API_URL: `${setup.optimoveUrl}/current`,
    OPTIMOVE_API_KEY: setup.optimoveApiKey,
    OPTIMOVE_TIMEZONE: TIMEZONE,
    OPTIMOVE_RATE_LIMIT: OPTIMOVE_RATE_LIMIT,
    PROMO_API_URL: setup.promoUrl,
    PROFILE_API_URL: setup.profileUrl,
    // A demo campaign is due in a minute or two, not in hours: keep the margins in proportion.
    CLEARANCE_SAFETY_MARGIN_SECONDS: '10',
    CLEARANCE_REPORT_RESERVE_SECONDS: '5',
    // Nothing sits in front of the service to drain, so stopping need not wait.
    SHUTDOWN_DRAIN_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '8000',
    LOG_LEVEL: 'warn',
  };
}

function ensureBuilt(): void {
  const build = spawnSync(process.execPath, ['scripts/ensure-built.js'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    throw new DemoError('building the apps failed (see above); `npm run build` shows the same errors');
  }
}

/** A log line made short: the service logs JSON, of which the context and the message are what a reader needs. */
function readable(line: string): string {
  try {
    const entry = JSON.parse(line) as { context?: unknown; msg?: unknown };
    if (typeof entry.msg === 'string') {
      return typeof entry.context === 'string' ? `${entry.context}: ${entry.msg}` : entry.msg;
    }
  } catch {
    // Not JSON: the sandbox writes plain lines.
  }

  return line;
}

function childFailure(child: RunningChild, what: string, logPath: string): DemoError {
  const lines = child.tail().map(readable);
  const distinct = lines.filter((line, index) => line !== lines[index - 1]).slice(-10);
  const tail = distinct.map((line) => `    ${line.slice(0, 300)}`).join('\n');

  return new DemoError(`${what}; the last lines of its output (all of it in ${logPath}):\n${tail || '    (none)'}`);
}

async function waitFor(
  logPath: string,
  what: string,
  child: RunningChild,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.hasExited()) {
      throw childFailure(child, `the ${child.name} exited while starting (${await child.exited})`, logPath);
    }
    if (await check().catch(() => false)) {
      return Date.now() - started;
    }
    await sleep(200);
  }
  throw childFailure(child, `the ${child.name} was not ${what} within ${timeoutMs / 1000} s`, logPath);
}

/** The service's own registration (the production path), or the same two Optimove calls made directly. */
async function register(setup: DemoSetup): Promise<string> {
  const answer = await requestJson(`${setup.serviceUrl}/admin/optimove/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${setup.adminKey}` },
    timeoutMs: 15_000,
  });
  if (answer.status === 200) {
    return 'by the service (POST /admin/optimove/register)';
  }
  if (answer.status !== 404) {
    throw new DemoError(`registering the listener and the gateway failed: ${describeAnswer(answer)}`);
  }
  const headers = { 'x-api-key': setup.optimoveApiKey };
  const listener = await requestJson(`${setup.optimoveUrl}/current/General/RegisterEventListener`, {
    headers,
    body: {
      EventTypeID: 5,
      ListenerURL: `${setup.serviceUrl}/optimove/events?token=${encodeURIComponent(setup.listenerToken)}`,
    },
  });
  const gateway = await requestJson(`${setup.optimoveUrl}/current/triggered_conditional_execution_gateway`, {
    method: 'PUT',
    headers,
    body: {
      GatewayURL: `${setup.serviceUrl}/optimove/triggered?token=${encodeURIComponent(setup.gatewayToken)}`,
      Timeout: GATEWAY_TIMEOUT_MS,
    },
  });
  for (const [call, answered] of [
    ['RegisterEventListener', listener],
    ['triggered_conditional_execution_gateway', gateway],
  ] as const) {
    if (answered.status !== 200) {
      throw new DemoError(`Optimove's ${call} failed: ${describeAnswer(answered)}`);
    }
  }

  return 'directly with Optimove (this service has no POST /admin/optimove/register yet)';
}

interface TriggeredAnswer {
  sent: number;
  notSent: number;
  deniedByGateway: number;
  failures: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  total: number;
  timeoutMs: number;
  results?: { status?: number; failure?: string }[];
}

/** Fires the triggered burst through the sandbox's Optimove; a gateway that fails is reported, never fatal. */
async function fireBurst(setup: DemoSetup, options: DemoOptions, campaignId: number): Promise<BurstOutcome> {
  if (options.triggered === 0) {
    return { fired: false, reason: 'DEMO_TRIGGERED=0' };
  }
  const started = Date.now();
  try {
    const answer = await requestJson<TriggeredAnswer>(`${setup.optimoveUrl}/control/triggered`, {
      body: {
        count: options.triggered,
        concurrency: 50,
        campaign: {
          id: campaignId,
          series_id: 77,
          notes: 'demo triggered campaign',
          tags: ['demo', 'reload'],
          action: { id: 1, name: 'Reload bonus', promo_codes: [TRIGGERED_PROMO_CODE] },
        },
      },
      timeoutMs: 10 * 60_000,
    });
    if (answer.status !== 200) {
      return { fired: false, reason: `the sandbox refused the burst: ${describeAnswer(answer)}` };
    }
    const httpStatuses: Record<string, number> = {};
    for (const result of answer.body.results ?? []) {
      if (result.failure === 'http_status' && result.status !== undefined) {
        httpStatuses[result.status] = (httpStatuses[result.status] ?? 0) + 1;
      }
    }
    const { total, sent, notSent, deniedByGateway, failures, latencyMs, timeoutMs } = answer.body;

    return {
      fired: true,
      total,
      sent,
      notSent,
      deniedByGateway,
      failures,
      latencyMs,
      timeoutMs,
      httpStatuses,
      elapsedMs: Date.now() - started,
    };
  } catch (error) {
    return { fired: false, reason: `the burst failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function describeBurst(burst: BurstOutcome): string {
  if (!burst.fired) {
    return `  triggered: not fired (${burst.reason})`;
  }
  const failed = Object.values(burst.failures).reduce((sum, count) => sum + count, 0);

  return (
    `  triggered: ${formatCount(burst.total)} requests in ${formatSeconds(burst.elapsedMs / 1000)}: ` +
    `${formatCount(burst.sent)} allowed, ${formatCount(burst.deniedByGateway)} denied` +
    (failed > 0 ? `, ${formatCount(failed)} failed at the gateway` : '') +
    `; p95 ${burst.latencyMs.p95} ms`
  );
}

async function auditGet<T>(setup: DemoSetup, path: string): Promise<T> {
  const answer = await requestJson<T>(`${setup.serviceUrl}${path}`, {
    headers: { authorization: `Bearer ${setup.auditorKey}` },
  });
  if (answer.status !== 200) {
    throw new DemoError(`GET ${path} failed: ${describeAnswer(answer)}`);
  }

  return answer.body;
}

async function followClearance(
  setup: DemoSetup,
  clearanceId: string,
  deadline: number,
  progress: ProgressDisplay,
  guard: () => void,
): Promise<ClearanceView> {
  const giveUpAt = deadline + AFTER_DEADLINE_GRACE_MS;
  let view: ClearanceView | undefined;
  for (;;) {
    guard();
    view = await auditGet<ClearanceView>(setup, `/audit/clearances/${clearanceId}`).catch((error: unknown) => {
      if (Date.now() > giveUpAt) {
        throw error;
      }

      return view;
    });
    guard();
    if (view && FINISHED_STATUSES.includes(view.status)) {
      progress.finish(describeProgress(view, Date.now(), progress.interactive));

      return view;
    }
    progress.update(describeProgress(view, Date.now(), progress.interactive));
    if (Date.now() > giveUpAt) {
      throw new DemoError(
        `the clearance did not finish by ${formatSeconds(AFTER_DEADLINE_GRACE_MS / 1000)} after its deadline`,
      );
    }
    await sleep(progress.interactive ? 400 : 1_000);
  }
}

async function runDemo(options: DemoOptions, children: ChildProcesses, waitForInterrupt: () => Promise<void>) {
  const logPath = shown(children.logPath);
  say(bold('Optimove Conditional Execution: demo'));
  say(
    `  ${formatCount(options.customers)} customers in one scheduled campaign, ` +
      `${formatCount(options.triggered)} triggered requests. Logs: ${logPath}`,
  );
  const setup = await setUp();

  const sandbox = children.start('sandbox', SANDBOX_MAIN, sandboxEnvironment(setup), ROOT);
  await waitFor(
    logPath,
    'answering',
    sandbox,
    async () => (await requestJson(`${setup.optimoveUrl}/control/state`)).status === 200,
    30_000,
  );
  say(
    `  sandbox   Optimove ${setup.optimoveUrl}, promo ${setup.promoUrl}, ` +
      `profiles ${setup.profileUrl} (pid ${sandbox.pid})`,
  );

  const service = children.start('service', SERVICE_MAIN, serviceEnvironment(setup, options), ROOT);
  say(`  service   starting: migrations, then readiness (up to ${READY_TIMEOUT_MS / 1000} s)...`);
  const readyIn = await waitFor(
    logPath,
    'ready',
    service,
    async () => (await requestJson(`${setup.serviceUrl}/health/ready`, { timeoutMs: 2_000 })).status === 200,
    READY_TIMEOUT_MS,
  );
  const database = options.databaseUrl ? 'PostgreSQL at DEMO_DATABASE_URL' : 'an embedded PostgreSQL (PGlite)';
  say(`  service   ${setup.serviceUrl} on ${database}, ready in ${formatSeconds(readyIn / 1000)} (pid ${service.pid})`);
  const guard = (): void => {
    if (interrupted) {
      throw new DemoError('interrupted');
    }
    for (const child of [sandbox, service]) {
      if (child.hasExited()) {
        throw childFailure(child, `the ${child.name} stopped unexpectedly`, logPath);
      }
    }
  };

  say(`  registered the event listener and the triggered gateway ${await register(setup)}`);

  const runId = Math.floor(Date.now() / 1000) % 8_000_000;
  const scheduledId = 1_000_000 + runId * 2;
  const triggeredId = scheduledId + 1;
  const created = await requestJson<{ clearanceRequiredBy: string; clearanceRequiredByLocal: string }>(
    `${setup.optimoveUrl}/control/campaigns`,
    {
      body: {
        campaignId: scheduledId,
        size: options.customers,
        promoCodes: SCHEDULED_PROMO_CODES,
        leadTimeSeconds: options.leadSeconds,
      },
    },
  );
  if (created.status !== 200) {
    throw new DemoError(`creating the campaign on the sandbox failed: ${describeAnswer(created)}`);
  }
  const deadline = Date.parse(created.body.clearanceRequiredBy);
  say(
    `  campaign  ${scheduledId}: ${formatCount(options.customers)} customers, promo codes ` +
      `${SCHEDULED_PROMO_CODES.join(', ')}; ClearanceRequiredBy ${created.body.clearanceRequiredByLocal} ${TIMEZONE} ` +
      `(in ${options.leadSeconds} s)`,
  );

  const notified = await requestJson<{ status: number; body: unknown; latencyMs: number; error?: string }>(
    `${setup.optimoveUrl}/control/campaigns/${scheduledId}/notify`,
    { body: { timeoutMs: 10_000 }, timeoutMs: 15_000 },
  );
  const listenerAnswer = notified.body;
  const clearanceId =
    listenerAnswer.status === 200 ? (listenerAnswer.body as { clearanceId?: unknown } | null)?.clearanceId : undefined;
  if (notified.status !== 200 || typeof clearanceId !== 'string') {
    throw new DemoError(
      'the listener did not accept the notification: ' +
        (listenerAnswer.error ?? describeAnswer({ status: listenerAnswer.status, body: listenerAnswer.body })),
    );
  }
  say(
    `  notified  Optimove called the listener: clearance ${clearanceId} (answered in ${listenerAnswer.latencyMs} ms)`,
  );

  const progress = new ProgressDisplay(out);
  if (options.triggered > 0) {
    say(
      `  triggered firing ${formatCount(options.triggered)} requests at the gateway ` +
        `(campaign ${triggeredId}) meanwhile`,
    );
  }
  const burst = fireBurst(setup, options, triggeredId).then((outcome) => {
    progress.note(describeBurst(outcome));

    return outcome;
  });
  const clearance = await followClearance(setup, clearanceId, deadline, progress, guard).catch((error: unknown) => {
    if (error instanceof DemoError && error.message.includes('last lines')) {
      throw error;
    }
    progress.finish('stopped following the clearance');
    throw childFailure(service, error instanceof Error ? error.message : String(error), logPath);
  });
  const burstOutcome = await burst;

  const [scheduledSummary, triggeredSummary, campaignState] = await Promise.all([
    auditGet<CampaignSummary>(setup, `/audit/campaigns/${scheduledId}/summary`),
    auditGet<CampaignSummary>(setup, `/audit/campaigns/${triggeredId}/summary`),
    requestJson<{ approvedCount?: number }>(`${setup.optimoveUrl}/control/campaigns/${scheduledId}`),
  ]);
  const summaryInput = {
    clearance,
    scheduled: scheduledSummary,
    optimoveApprovals: campaignState.status === 200 ? campaignState.body.approvedCount : undefined,
    triggeredCampaignId: String(triggeredId),
    triggered: triggeredSummary,
    burst: burstOutcome,
  };
  say();
  say(bold('Summary'));
  say(renderSummary(summaryInput));
  say();
  say(bold('Look further (audit API, auditor key):'));
  say(
    renderQueryHints(summaryInput, {
      serviceUrl: setup.serviceUrl,
      auditorKey: setup.auditorKey,
      keepRunning: options.keepRunning,
      logPath,
      dataDir: shown(options.dataDir),
    }),
  );
  if (clearance.status !== 'completed') {
    throw new DemoError(`the clearance ended ${clearance.status}, not completed; see the log for why`);
  }
  if (options.keepRunning) {
    await waitForInterrupt();
  }
}

let interrupted = false;

async function main(): Promise<number> {
  const options = readDemoOptions(process.env, ROOT);
  ensureBuilt();
  mkdirSync(options.dataDir, { recursive: true });
  const children = new ChildProcesses(join(options.dataDir, 'demo.log'));
  let keptRunning: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (keptRunning) {
      keptRunning();

      return;
    }
    if (interrupted) {
      return;
    }
    interrupted = true;
    out.write(`\n${signal}: stopping the service and the sandbox...\n`);
    void children.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const waitForInterrupt = () =>
    new Promise<void>((resolve) => {
      keptRunning = resolve;
    });

  try {
    await runDemo(options, children, waitForInterrupt);

    return 0;
  } finally {
    await children.stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (interrupted) {
      // The signal handler is stopping the children and exits with the signal's code.
      return;
    }
    const message = error instanceof DemoError ? error.message : error instanceof Error ? error.stack : String(error);
    process.stderr.write(`\ndemo failed: ${message}\n`);
    process.exit(1);
  },
);
