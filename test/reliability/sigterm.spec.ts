import { applyMigrations, connectWithRetry } from '@app/database';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Pool } from 'undici';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { shutDownGracefully } from '../../apps/service/src/bootstrap';
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

const DRAIN_MS = 2_000;
const REQUESTS_PER_TICK = 3;
const TICK_MS = 20;
/** Customers whose activation stays in flight long enough that replica A cannot finish their slices while stopping. */
const SLOW_CUSTOMERS = ['C500', 'C1500'];
const CLEAN_PROFILE = {
  accountStatus: 'active',
  country: 'GB',
  depositTotal: 500,
  kycVerified: true,
  selfExcluded: false,
};

interface Outcome {
  /** Which replica gave the answer that counts. */
  servedBy: 'A' | 'B';
  status: number;
  allowed: unknown;
  /** When A failed the request without processing it (connection closed, or 503 while closing); retried on B. */
  connectionErrorAt?: number;
  error?: string;
}

/**
 * Replica A is stopped the way SIGTERM stops it (`shutDownGracefully`) while it serves gateway traffic and holds
 * slices of a clearance; replica B shares the database.
 *
 * "No request fails", with keep-alive: every request ends in a 200 with a boolean `allowed`. The test plays a
 * load balancer slower than any real one: it keeps routing to A, through the whole drain, until A fails a request
 * without processing it (the connection is reset or refused, or Fastify answers 503 because it is closing), and
 * from then on routes to B. Such a request is retried on B, as a proxy retries a request that got no response;
 * that is allowed only after the drain, once A has stopped accepting. Before it, every answer must be a 200. A
 * gateway call is safe to retry: a repeat of (campaign, customer) gets the committed answer.
 */
describe('reliability: graceful shutdown of one replica under load', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let replicaA: RunningService | undefined;
  let replicaB: RunningService | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase('sigterm');
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
    await applyMigrations(dataSource);
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    env = {
      ...sandboxEnv(sandbox),
      CLEARANCE_SLICE_CONCURRENCY: '2',
      GATEWAY_TIMEOUT_MS: '2000',
      GATEWAY_MARGIN_MS: '250',
      LOG_LEVEL: 'fatal',
      MIGRATE_ON_START: 'false',
    };
  });

  afterAll(async () => {
    await replicaA?.close().catch(() => undefined);
    await replicaB?.close();
    await sandbox?.stop();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('should answer every gateway request and hand its slices to the other replica', async () => {
    for (const customerId of SLOW_CUSTOMERS) {
      await json(`${sandbox.profileUrl}/control/profiles/${customerId}`, 'PUT', { customerId, ...CLEAN_PROFILE });
    }
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', {
      latencyMs: 20,
      slowCustomerIds: SLOW_CUSTOMERS,
      slowMs: 16_000,
    });
    const before = await promoCounters(sandbox);
    const a = await startService(database.url, env);
    replicaA = a;
    const { campaignId, clearanceId, clearanceRequiredBy } = await openClearance(sandbox, a.url, {
      size: 4_000,
      promoCodes: ['DRAIN'],
      leadTimeSeconds: 50,
    });
    await waitUntil(
      async () => {
        const [leased] = await dataSource.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM clearance_slices WHERE clearance_id = $1 AND state = 'leased'`,
          [clearanceId],
        );

        return leased.n === '2';
      },
      10_000,
      'A holds two slices',
    );
    const b = await startService(database.url, env);
    replicaB = b;

    const pools = { A: new Pool(a.url, { connections: 8 }), B: new Pool(b.url, { connections: 8 }) };
    let routeTo: 'A' | 'B' = 'A';
    let closingStartedAt = Number.POSITIVE_INFINITY;
    let userSeq = 0;
    const send = async (replica: 'A' | 'B', userId: string) => {
      const response = await pools[replica].request({
        path: `/optimove/triggered?token=${GATEWAY_TOKEN}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          user: { user_id: userId, is_visitor: false },
          campaign: {
            id: 8_001,
            series_id: 8,
            notes: '',
            tags: [],
            action: { id: 1, name: 'Drain', promo_codes: null, channels: [{ id: 504, name: 'Email' }] },
          },
        }),
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      const answer = (await response.body.json()) as { allowed?: unknown };

      return { status: response.statusCode, allowed: answer.allowed };
    };
    const oneRequest = async (): Promise<Outcome> => {
      const userId = `S${++userSeq}`;
      const replica = routeTo;
      try {
        const answer = await send(replica, userId);
        if (!(replica === 'A' && answer.status === 503 && Date.now() >= closingStartedAt)) {
          return { servedBy: replica, ...answer };
        }
        // Fastify's answer to a request that reaches a server already closing: not processed, safe to retry.
        throw new Error('503 while closing');
      } catch (error) {
        const connectionErrorAt = Date.now();
        routeTo = 'B';
        const retried = await send('B', userId).catch((again: unknown) => ({
          status: 0,
          allowed: undefined,
          error: String(again),
        }));

        return { servedBy: 'B', connectionErrorAt, error: String(error), ...retried };
      }
    };
    const inFlight: Promise<Outcome>[] = [];
    let loadOn = true;
    const load = (async () => {
      while (loadOn) {
        for (let i = 0; i < REQUESTS_PER_TICK; i++) {
          inFlight.push(oneRequest());
        }
        await sleep(TICK_MS);
      }
    })();

    await sleep(1_000);
    const stopping = shutDownGracefully(a.app, DRAIN_MS);
    await sleep(DRAIN_MS);
    closingStartedAt = Date.now();
    await stopping;
    replicaA = undefined;
    await sleep(1_000);
    loadOn = false;
    await load;
    const outcomes = await Promise.all(inFlight);
    await Promise.all([pools.A.destroy(), pools.B.destroy()]);
    await waitUntil(
      async () => ['completed', 'failed'].includes((await clearanceRow(dataSource, clearanceId)).status),
      40_000,
      'clearance finished on B',
    );

    expect(outcomes.length).toBeGreaterThan(300);
    expect(outcomes.filter((outcome) => outcome.servedBy === 'A').length).toBeGreaterThan(100);
    expect(outcomes.filter((outcome) => outcome.status !== 200 || typeof outcome.allowed !== 'boolean')).toEqual([]);
    const earlyConnectionErrors = outcomes.filter(
      (outcome) => (outcome.connectionErrorAt ?? Infinity) < closingStartedAt,
    );
    expect(earlyConnectionErrors).toEqual([]);
    const final = await clearanceRow(dataSource, clearanceId);
    expect(final).toMatchObject({ status: 'completed', total: 4_000, deadlineMet: true });
    expect(final.finishedAt!.getTime()).toBeLessThan(clearanceRequiredBy.getTime());
    expect(final.reported).toBe(final.approved);
    const handedBack = await dataSource.query<{ slice_no: number }[]>(
      `SELECT slice_no FROM clearance_slices WHERE clearance_id = $1 AND fencing_token > 1 ORDER BY slice_no`,
      [clearanceId],
    );
    expect(handedBack.length).toBeGreaterThan(0);
    const ledger = await clearanceLedger(dataSource, clearanceId, campaignId);
    expect(ledger).toMatchObject({
      notDecidedOnce: 0,
      decidedCustomers: 4_000,
      approvedDecisions: final.approved,
      deniedAtCutOff: 0,
      customersWithSeveralKeys: 0,
    });
    expect((await promoCounters(sandbox)).duplicates).toBe(before.duplicates);
    const reportedToOptimove = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}`);
    expect(reportedToOptimove.approvedCount).toBe(final.approved);
  });
});
