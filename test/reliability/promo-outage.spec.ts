import { applyMigrations, connectWithRetry } from '@app/database';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { FaultProxy, startFaultProxy } from '../support/fault-proxy';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import {
  clearanceLedger,
  clearanceRow,
  GATEWAY_TOKEN,
  json,
  openClearance,
  promoCounters,
  sandboxEnv,
  waitUntil,
} from './clearance.harness';

/**
 * 12 s rather than the 30 s of the original scenario: long enough for every timer that shapes the outcome to run
 * several times over (a promo attempt gives up after 1 s, the gateway's breaker stays open 3 s before a probe, a
 * slice renews its lease every 10 s), so 30 s would add run time and no new behaviour.
 */
const OUTAGE_MS = 12_000;
const GATEWAY_TIMEOUT_MS = 1_000;
const GATEWAY_MARGIN_MS = 200;
const TRIGGERED_CAMPAIGN = 7_001;

interface GatewayAnswer {
  status: number;
  allowed?: unknown;
  /** The call was abandoned at Optimove's timeout, or failed at the network level. */
  failure?: string;
}

/**
 * The promo system becomes unreachable (a black hole: connections accepted, nothing answered) in the middle of a
 * clearance while the triggered gateway serves a trickle of requests. Only the service's promo calls go through
 * the fault proxy; the test reads the sandbox's counters directly.
 */
describe('reliability: promo system outage during a clearance and triggered traffic', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let proxy: FaultProxy;
  let sandbox: Sandbox;
  let service: RunningService;
  let userSeq = 0;

  /** One triggered request, abandoned at the gateway timeout as Optimove would. */
  const ask = async (): Promise<GatewayAnswer> => {
    const body = {
      user: { user_id: `T${++userSeq}`, is_visitor: false },
      campaign: {
        id: TRIGGERED_CAMPAIGN,
        series_id: 7,
        notes: '',
        tags: [],
        action: { id: 1, name: 'Reload bonus', promo_codes: ['TRIG'], channels: [{ id: 504, name: 'Email' }] },
      },
    };
    try {
      const response = await fetch(`${service.url}/optimove/triggered?token=${GATEWAY_TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(GATEWAY_TIMEOUT_MS),
      });
      const answer = (await response.json()) as { allowed?: unknown };

      return { status: response.status, allowed: answer.allowed };
    } catch (error) {
      return { status: 0, failure: error instanceof Error ? error.name : String(error) };
    }
  };
  const promoBreakerState = async (): Promise<number | undefined> => {
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const line = /^gateway_breaker_state\{dependency="promo"\} (\d+)$/m.exec(metrics);

    return line ? Number(line[1]) : undefined;
  };

  beforeAll(async () => {
    database = await createTestDatabase('promo_outage');
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
    await applyMigrations(dataSource);
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(sandbox.promoUrl).port) } });
    service = await startService(database.url, {
      ...sandboxEnv(sandbox, proxy.url('http')),
      GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS),
      GATEWAY_MARGIN_MS: String(GATEWAY_MARGIN_MS),
      LOG_LEVEL: 'fatal',
      MIGRATE_ON_START: 'false',
    });
  });

  afterAll(async () => {
    await service?.close();
    await proxy?.close();
    await sandbox?.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('should deny in time with the breaker open, then resume the clearance with the same keys', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 40 });
    const before = await promoCounters(sandbox);
    const { campaignId, clearanceId, clearanceRequiredBy } = await openClearance(sandbox, service.url, {
      size: 3_000,
      promoCodes: ['OUTAGE'],
      leadTimeSeconds: 50,
    });
    await waitUntil(async () => (await promoCounters(sandbox)).active - before.active >= 500, 20_000, 'under way');

    proxy.blackHole(true);
    const outageEndsAt = Date.now() + OUTAGE_MS;
    const duringOutage: GatewayAnswer[] = [];
    const breakerStates = new Set<number | undefined>();
    while (Date.now() < outageEndsAt) {
      const [answer, state] = await Promise.all([ask(), promoBreakerState(), sleep(200)]);
      duringOutage.push(answer);
      breakerStates.add(state);
    }
    const midway = await clearanceRow(dataSource, clearanceId);
    proxy.blackHole(false);
    await waitUntil(async () => (await ask()).allowed === true, 15_000, 'gateway approves again');
    await waitUntil(
      async () => ['completed', 'failed'].includes((await clearanceRow(dataSource, clearanceId)).status),
      40_000,
      'clearance finished',
    );

    expect(duringOutage.length).toBeGreaterThan(20);
    expect(duringOutage.filter((answer) => answer.status !== 200 || answer.allowed !== false)).toEqual([]);
    expect(breakerStates.has(1)).toBe(true);
    expect(midway.approved + midway.denied).toBeLessThan(3_000);
    const final = await clearanceRow(dataSource, clearanceId);
    expect(final).toMatchObject({ status: 'completed', total: 3_000, deadlineMet: true });
    expect(final.finishedAt!.getTime()).toBeLessThan(clearanceRequiredBy.getTime());
    expect(final.reported).toBe(final.approved);
    const ledger = await clearanceLedger(dataSource, clearanceId, campaignId);
    expect(ledger).toMatchObject({
      notDecidedOnce: 0,
      decidedCustomers: 3_000,
      approvedDecisions: final.approved,
      deniedAtCutOff: 0,
      customersWithSeveralKeys: 0,
      activatedKeys: final.approved,
    });
    const [unavailable] = await dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM decisions WHERE clearance_id = $1 AND 'PROMO_UNAVAILABLE' = ANY (reason_codes)`,
      [clearanceId],
    );
    expect(unavailable.n).toBe('0');
    const ourKeys = (
      await dataSource.query<{ idempotency_key: string }[]>(
        `SELECT idempotency_key FROM promo_activations WHERE occurrence = $1 AND state = 'activated'`,
        [clearanceId],
      )
    ).map((row) => row.idempotency_key);
    const theirs = await json(
      `${sandbox.promoUrl}/control/activations?campaignId=${campaignId}&state=activated&limit=100000`,
    );
    const theirKeys = (theirs.items as { idempotencyKey: string }[]).map((item) => item.idempotencyKey);
    expect(new Set(theirKeys)).toEqual(new Set(ourKeys));
    expect((await promoCounters(sandbox)).duplicates).toBe(before.duplicates);
    const reportedToOptimove = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}`);
    expect(reportedToOptimove.approvedCount).toBe(final.approved);
  });
});
