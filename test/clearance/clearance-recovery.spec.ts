import { connectWithRetry } from '@app/database';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const LISTENER_TOKEN = 'listener-token-0123456789abcdef';

describe('scheduled clearance under pressure', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let env: Record<string, string>;

  const json = async (url: string, method = 'GET', body?: unknown): Promise<any> => {
    const response = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

    return response.json();
  };
  const status = async (clearanceId: string): Promise<{ status: string; approved: string; reported: string }> => {
    const [row] = await dataSource.query(`SELECT status, approved, reported FROM clearances WHERE id = $1`, [
      clearanceId,
    ]);

    return row;
  };
  const waitUntil = async (check: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
    const giveUpAt = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > giveUpAt) {
        throw new Error(`condition not met within ${timeoutMs} ms`);
      }
      await sleep(200);
    }
  };
  const openClearance = async (service: RunningService, body: Record<string, unknown>) => {
    const campaign = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', body);
    const response = await fetch(`${service.url}/optimove/events?token=${LISTENER_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        EventTypeID: 5,
        CampaignID: campaign.campaignId,
        ClearanceRequiredBy: campaign.clearanceRequiredBy,
      }),
    });
    const { clearanceId } = (await response.json()) as { clearanceId: string };

    return { campaignId: String(campaign.campaignId), clearanceId };
  };

  beforeAll(async () => {
    database = await createTestDatabase('clearance_recovery');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    env = {
      LISTENER_TOKEN,
      OPTIMOVE_API_URL: sandbox.optimoveUrl,
      OPTIMOVE_API_KEY: sandbox.apiKey,
      OPTIMOVE_TIMEZONE: 'Europe/London',
      OPTIMOVE_RATE_LIMIT: 'off',
      PROMO_API_URL: sandbox.promoUrl,
      PROFILE_API_URL: sandbox.profileUrl,
      CLEARANCE_SAFETY_MARGIN_SECONDS: '2',
      CLEARANCE_REPORT_RESERVE_SECONDS: '2',
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

  it('should deny what the cut-off leaves undecided, activate nothing after it, and still report in time', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 400 });
    const service = await startService(database.url, {
      ...env,
      PROMO_CONCURRENCY: '4',
      CLEARANCE_SLICE_CONCURRENCY: '1',
    });
    try {
      const { campaignId, clearanceId } = await openClearance(service, {
        size: 1_200,
        promoCodes: ['SLOW'],
        leadTimeSeconds: 12,
      });
      await waitUntil(async () => ['completed', 'failed'].includes((await status(clearanceId)).status), 30_000);

      const [clearance] = await dataSource.query(
        `SELECT status, total, approved, denied, reported, deadline_met, decide_by FROM clearances WHERE id = $1`,
        [clearanceId],
      );
      expect(clearance).toMatchObject({ status: 'completed', total: '1200', deadline_met: true });
      expect(Number(clearance.approved) + Number(clearance.denied)).toBe(1_200);
      expect(clearance.reported).toBe(clearance.approved);
      const [decisions] = await dataSource.query(
        `SELECT count(*) AS total, count(DISTINCT customer_id) AS customers,
                count(*) FILTER (WHERE 'DEADLINE_EXCEEDED' = ANY (reason_codes)) AS late
           FROM decisions WHERE clearance_id = $1`,
        [clearanceId],
      );
      expect(decisions.total).toBe('1200');
      expect(decisions.customers).toBe('1200');
      expect(Number(decisions.late)).toBeGreaterThan(0);
      const [afterCutOff] = await dataSource.query(
        `SELECT count(*) AS count FROM promo_activations WHERE campaign_id = $1 AND created_at > $2`,
        [campaignId, clearance.decide_by],
      );
      expect(afterCutOff.count).toBe('0');
      let outcome = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}/outcome`);
      await waitUntil(async () => {
        outcome = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}/outcome`);

        return outcome.final === true;
      }, 20_000);
      expect(outcome.sentTo).toBe(Number(clearance.approved));
    } finally {
      await service.close();
    }
  });

  it('should finish on another replica what a stopped one left, each customer decided and activated once', async () => {
    await json(`${sandbox.promoUrl}/control/faults`, 'PUT', { latencyMs: 15 });
    const before = await json(`${sandbox.promoUrl}/control/activations`);
    const first = await startService(database.url, { ...env, PROMO_CONCURRENCY: '8' });
    const { campaignId, clearanceId } = await openClearance(first, {
      size: 8_000,
      promoCodes: ['HANDOFF'],
      leadTimeSeconds: 60,
    });
    await waitUntil(async () => Number((await status(clearanceId)).approved) > 0, 20_000);
    await first.close();
    const [midway] = await dataSource.query(
      `SELECT count(*) AS pending FROM clearance_customers cc
        JOIN clearance_slices s ON s.clearance_id = cc.clearance_id AND s.slice_no = cc.slice_no
       WHERE cc.clearance_id = $1 AND s.state <> 'done'`,
      [clearanceId],
    );
    const second = await startService(database.url, { ...env, PROMO_CONCURRENCY: '8' });
    try {
      await waitUntil(async () => (await status(clearanceId)).status === 'completed', 45_000);

      expect(Number(midway.pending)).toBeGreaterThan(0);
      const [decisions] = await dataSource.query(
        `SELECT count(*) AS total, count(DISTINCT customer_id) AS customers FROM decisions WHERE clearance_id = $1`,
        [clearanceId],
      );
      expect(decisions).toEqual({ total: '8000', customers: '8000' });
      const final = await status(clearanceId);
      expect(final.reported).toBe(final.approved);
      const after = await json(`${sandbox.promoUrl}/control/activations`);
      expect(after.duplicates ?? 0).toBe(before.duplicates ?? 0);
      expect(after.active - before.active).toBe(Number(final.approved));
      const state = await json(`${sandbox.optimoveUrl}/control/campaigns/${campaignId}`);
      expect(state.approvedCount).toBe(Number(final.approved));
    } finally {
      await second.close();
    }
  });
});
