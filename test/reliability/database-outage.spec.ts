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
  json,
  notify,
  openClearance,
  promoCounters,
  sandboxEnv,
  waitUntil,
} from './clearance.harness';

const OUTAGE_MS = 5_000;

/**
 * PostgreSQL goes away for a few seconds in the middle of a clearance: every connection of the service is reset
 * and new ones are refused. The test database is reached through the fault proxy by the service only; the test's
 * own connection goes straight to the server, so that it can watch what happens.
 */
describe('reliability: PostgreSQL outage during a clearance', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let proxy: FaultProxy;
  let sandbox: Sandbox;
  let service: RunningService;

  beforeAll(async () => {
    database = await createTestDatabase('db_outage');
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
    await applyMigrations(dataSource);
    proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(database.url).port) } });
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    service = await startService(proxy.rewrite(database.url), {
      ...sandboxEnv(sandbox),
      DATABASE_ACQUIRE_TIMEOUT_MS: '1000',
      DATABASE_POOL_MAX: '10',
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

  it('should refuse new work with 503, stay live, turn unready, then recover and finish the clearance once', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 40 });
    const before = await promoCounters(sandbox);
    // A deadline 30 s away puts the cut-off before the 30-s lease of a slice left parked by a failed hand-back runs
    // out: such a slice would show up as customers denied at the cut-off.
    const { campaignId, clearanceId, clearanceRequiredBy } = await openClearance(sandbox, service.url, {
      size: 3_000,
      promoCodes: ['OUTAGE'],
      leadTimeSeconds: 30,
    });
    const spare = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', { size: 10, leadTimeSeconds: 75 });
    await waitUntil(async () => (await clearanceRow(dataSource, clearanceId)).approved > 0, 20_000, 'first slice');

    proxy.cutOff(OUTAGE_MS);
    await sleep(500);
    const duringOutage = {
      notification: (await notify(service.url, spare.campaignId, spare.clearanceRequiredBy)).status,
      live: (await fetch(`${service.url}/health/live`)).status,
      ready: (await fetch(`${service.url}/health/ready`)).status,
      progress: await clearanceRow(dataSource, clearanceId),
    };
    await sleep(OUTAGE_MS);
    await waitUntil(async () => (await fetch(`${service.url}/health/ready`)).status === 200, 10_000, 'ready again');
    await waitUntil(
      async () => ['completed', 'failed'].includes((await clearanceRow(dataSource, clearanceId)).status),
      60_000,
      'clearance finished',
    );

    expect(duringOutage).toMatchObject({ notification: 503, live: 200, ready: 503 });
    expect(duringOutage.progress.approved + duringOutage.progress.denied).toBeLessThan(3_000);
    const final = await clearanceRow(dataSource, clearanceId);
    expect(final).toMatchObject({ status: 'completed', total: 3_000, deadlineMet: true });
    expect(final.finishedAt!.getTime()).toBeLessThan(clearanceRequiredBy.getTime());
    expect(final.approved + final.denied).toBe(3_000);
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
    const reportedToOptimove = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}`);
    expect(reportedToOptimove.approvedCount).toBe(final.approved);
    const after = await promoCounters(sandbox);
    expect(after.duplicates).toBe(before.duplicates);
    // Activations made before the outage are kept and replayed, not cancelled and then refused to the customer.
    expect(after.cancelled).toBe(before.cancelled);
    expect(after.active - before.active).toBe(final.approved);
    // The notification refused during the outage is accepted once the database is back, as Optimove's retry would be.
    expect((await notify(service.url, spare.campaignId, spare.clearanceRequiredBy)).status).toBe(200);
  });
});
