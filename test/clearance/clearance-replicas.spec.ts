import { connectWithRetry } from '@app/database';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { freePort, SERVICE_MAIN, spawnNode, waitForStatus } from '../support/processes';
import { startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const LISTENER_TOKEN = 'listener-token-0123456789abcdef';

describe('a clearance shared by replicas', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  const json = async (url: string, method = 'GET', body?: unknown): Promise<any> =>
    (
      await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    ).json();
  const notification = (campaign: { campaignId: number; clearanceRequiredBy: string }) =>
    JSON.stringify({
      EventTypeID: 5,
      CampaignID: campaign.campaignId,
      ClearanceRequiredBy: campaign.clearanceRequiredBy,
    });
  const notify = async (baseUrl: string, body: string): Promise<string> => {
    const response = await fetch(`${baseUrl}/optimove/events?token=${LISTENER_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(200);

    return ((await response.json()) as { clearanceId: string }).clearanceId;
  };
  const waitForCompletion = async (clearanceId: string, timeoutMs: number): Promise<void> => {
    const giveUpAt = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await dataSource.query(`SELECT status FROM clearances WHERE id = $1`, [clearanceId]);
      if (row?.status === 'completed' || Date.now() > giveUpAt) {
        expect(row?.status).toBe('completed');

        return;
      }
      await sleep(250);
    }
  };
  const expectEachCustomerDecidedOnce = async (clearanceId: string, customers: number): Promise<void> => {
    const [decisions] = await dataSource.query(
      `SELECT count(*)::int AS total, count(DISTINCT customer_id)::int AS customers
         FROM decisions WHERE clearance_id = $1`,
      [clearanceId],
    );
    expect(decisions).toEqual({ total: customers, customers });
  };

  beforeAll(async () => {
    database = await createTestDatabase('clearance_replicas');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    env = {
      LISTENER_TOKEN,
      OPTIMOVE_API_URL: sandbox.optimoveUrl,
      OPTIMOVE_API_KEY: sandbox.apiKey,
      OPTIMOVE_TIMEZONE: 'America/New_York',
      OPTIMOVE_RATE_LIMIT: 'off',
      PROMO_API_URL: sandbox.promoUrl,
      PROFILE_API_URL: sandbox.profileUrl,
      CLEARANCE_SAFETY_MARGIN_SECONDS: '2',
      CLEARANCE_REPORT_RESERVE_SECONDS: '2',
      CLEARANCE_LEASE_SECONDS: '3',
    };
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
  });

  afterEach(async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'DELETE');
  });

  afterAll(async () => {
    await dataSource.destroy();
    await sandbox.stop();
    await database.drop();
  });

  it('should open one clearance for the same notification five times at once and five times in a row', async () => {
    const service = await startService(database.url, { ...env, CLEARANCE_WORKERS_ENABLED: 'false' });
    try {
      const campaign = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', {
        size: 5,
        leadTimeSeconds: 600,
      });
      const body = notification(campaign);
      const atOnce = await Promise.all(Array.from({ length: 5 }, () => notify(service.url, body)));
      const inARow: string[] = [];
      for (let i = 0; i < 5; i++) {
        inARow.push(await notify(service.url, body));
      }

      expect(new Set([...atOnce, ...inARow]).size).toBe(1);
      const [count] = await dataSource.query(`SELECT count(*)::int AS count FROM clearances WHERE campaign_id = $1`, [
        String(campaign.campaignId),
      ]);
      expect(count.count).toBe(1);
    } finally {
      await service.close();
    }
  });

  it('should share a multi-page target group between two running replicas, deciding each customer once', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 5 });
    const first = await startService(database.url, env);
    const second = await startService(database.url, env);
    try {
      const campaign = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', {
        size: 24_000,
        promoCodes: ['SHARED'],
        leadTimeSeconds: 90,
      });
      const clearanceId = await notify(first.url, notification(campaign));
      await waitForCompletion(clearanceId, 80_000);

      await expectEachCustomerDecidedOnce(clearanceId, 24_000);
      const decidedBy = await Promise.all(
        [first, second].map(async (replica) => {
          const metrics = await (await fetch(`${replica.url}/metrics`)).text();

          return [...metrics.matchAll(/^clearance_customers_decided_total\{outcome="\w+"\} (\d+)/gm)].reduce(
            (sum, match) => sum + Number(match[1]),
            0,
          );
        }),
      );
      expect(decidedBy[0]).toBeGreaterThan(0);
      expect(decidedBy[1]).toBeGreaterThan(0);
      // The replicas also finish the small clearance left open by the test before (its service ran no workers).
      expect(decidedBy[0] + decidedBy[1]).toBe(24_000 + 5);
      const [pages] = await dataSource.query(`SELECT fetch_offset::int AS offset FROM clearances WHERE id = $1`, [
        clearanceId,
      ]);
      expect(pages.offset).toBe(24_000);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('should replace a replica killed mid-clearance (SIGKILL) and complete with no duplicate activation', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 10 });
    const before = await json(`${sandbox.promoUrl}/control/activations`);
    const port = await freePort();
    const killed = spawnNode(SERVICE_MAIN, {
      ...env,
      DATABASE_URL: database.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    });
    await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200, 30_000);
    const campaign = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', {
      size: 6_000,
      promoCodes: ['KILLED'],
      leadTimeSeconds: 90,
    });
    const clearanceId = await notify(`http://127.0.0.1:${port}`, notification(campaign));
    for (;;) {
      const [row] = await dataSource.query(`SELECT approved::int AS approved FROM clearances WHERE id = $1`, [
        clearanceId,
      ]);
      if (row.approved > 0) {
        break;
      }
      await sleep(100);
    }
    killed.child.kill('SIGKILL');
    await killed.exited();
    const [midway] = await dataSource.query(
      `SELECT count(*)::int AS pending FROM clearance_customers cc
        JOIN clearance_slices s ON s.clearance_id = cc.clearance_id AND s.slice_no = cc.slice_no
       WHERE cc.clearance_id = $1 AND s.state <> 'done'`,
      [clearanceId],
    );

    const replacement = await startService(database.url, env);
    try {
      await waitForCompletion(clearanceId, 60_000);

      expect(midway.pending).toBeGreaterThan(0);
      await expectEachCustomerDecidedOnce(clearanceId, 6_000);
      const after = await json(`${sandbox.promoUrl}/control/activations`);
      expect(after.duplicates ?? 0).toBe(before.duplicates ?? 0);
      const [final] = await dataSource.query(
        `SELECT approved::int AS approved, reported::int AS reported FROM clearances WHERE id = $1`,
        [clearanceId],
      );
      expect(final.reported).toBe(final.approved);
      const state = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaign.campaignId}`);
      expect(state.approvedCount).toBe(final.approved);
    } finally {
      await replacement.close();
    }
  });
});
