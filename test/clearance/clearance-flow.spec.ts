import { connectWithRetry } from '@app/database';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const LISTENER_TOKEN = 'listener-token-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdefgh';
const AUDITOR_KEY = 'auditor-key-0123456789abcdef';

interface ClearanceView {
  id: string;
  status: string;
  total: number;
  approved: number;
  denied: number;
  pending: number;
  reported: number;
  deadlineMet: boolean | null;
}

describe('scheduled clearance against the sandbox', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let service: RunningService;

  const control = async (path: string, init: { method?: string; body?: unknown } = {}): Promise<any> => {
    const response = await fetch(`${sandbox.optimoveUrl}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

    return response.json();
  };
  const clearance = async (id: string): Promise<ClearanceView> => {
    const response = await fetch(`${service.url}/audit/clearances/${id}`, {
      headers: { authorization: `Bearer ${AUDITOR_KEY}` },
    });

    return (await response.json()) as ClearanceView;
  };
  const waitForStatus = async (id: string, statuses: string[], timeoutMs: number): Promise<ClearanceView> => {
    const giveUpAt = Date.now() + timeoutMs;
    for (;;) {
      const view = await clearance(id);
      if (statuses.includes(view.status) || Date.now() > giveUpAt) {
        return view;
      }
      await sleep(250);
    }
  };
  /** Has the sandbox send the event-5 notification to our listener; answers the clearance id we gave back. */
  const notify = async (campaignId: string): Promise<string> => {
    const answer = (await control(`/control/campaigns/${campaignId}/notify`, { body: {} })) as {
      status: number;
      body: { clearanceId: string };
    };
    expect(answer.status).toBe(200);

    return answer.body.clearanceId;
  };

  beforeAll(async () => {
    database = await createTestDatabase('clearance_flow');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    service = await startService(database.url, {
      LISTENER_TOKEN,
      AUDIT_API_KEYS: `admin:${ADMIN_KEY},auditor:${AUDITOR_KEY}`,
      OPTIMOVE_API_URL: `${sandbox.optimoveUrl}/current`,
      OPTIMOVE_API_KEY: sandbox.apiKey,
      OPTIMOVE_TIMEZONE: 'Europe/London',
      OPTIMOVE_RATE_LIMIT: 'off',
      PROMO_API_URL: sandbox.promoUrl,
      PROFILE_API_URL: sandbox.profileUrl,
      CLEARANCE_SAFETY_MARGIN_SECONDS: '5',
      CLEARANCE_REPORT_RESERVE_SECONDS: '3',
    });
    await fetch(`${sandbox.optimoveUrl}/current/General/RegisterEventListener`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': sandbox.apiKey },
      body: JSON.stringify({ EventTypeID: 5, ListenerURL: `${service.url}/optimove/events?token=${LISTENER_TOKEN}` }),
    });
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
  });

  afterAll(async () => {
    await service.close();
    await dataSource.destroy();
    await sandbox.stop();
    await database.drop();
  });

  it('should clear a campaign end to end: each customer decided once, approvals activated and reported', async () => {
    const campaign = await control('/control/campaigns', {
      body: { size: 2_500, promoCodes: ['WELCOME10', 'SPIN20'], leadTimeSeconds: 40 },
    });
    const clearanceId = await notify(campaign.campaignId);

    const done = await waitForStatus(clearanceId, ['completed', 'failed'], 30_000);

    expect(done).toMatchObject({ status: 'completed', total: 2_500, pending: 0, deadlineMet: true });
    expect(done.approved + done.denied).toBe(2_500);
    expect(done.reported).toBe(done.approved);
    const perCustomer: { decisions: string; customers: string }[] = await dataSource.query(
      `SELECT count(*) AS decisions, count(DISTINCT customer_id) AS customers FROM decisions WHERE clearance_id = $1`,
      [clearanceId],
    );
    expect(perCustomer[0]).toEqual({ decisions: '2500', customers: '2500' });
    const state = await control(`/control/campaigns/${campaign.campaignId}`);
    expect(state.approvedCount).toBe(done.approved);
    const activations = (await (await fetch(`${sandbox.promoUrl}/control/activations`)).json()) as any;
    expect(activations.duplicates ?? 0).toBe(0);
    expect(activations.active).toBe(done.approved);
    const page = (await (
      await fetch(`${service.url}/audit/decisions?clearanceId=${clearanceId}&limit=1000`, {
        headers: { authorization: `Bearer ${AUDITOR_KEY}` },
      })
    ).json()) as { items: { allowed: boolean; reportedAt: string | null }[] };
    const approvals = page.items.filter((item) => item.allowed);
    expect(approvals.length).toBeGreaterThan(0);
    expect(approvals.every((item) => item.reportedAt !== null && !Number.isNaN(Date.parse(item.reportedAt)))).toBe(
      true,
    );
    expect(page.items.filter((item) => !item.allowed).every((item) => item.reportedAt === null)).toBe(true);
  });

  it('should expose the flows in the metrics', async () => {
    const metrics = await (await fetch(`${service.url}/metrics`)).text();

    expect(metrics).toMatch(/^decisions_total\{flow="scheduled",outcome="approved",reason="NONE"\} \d+/m);
    expect(metrics).toMatch(/^decisions_total\{flow="scheduled",outcome="denied",reason="[A-Z_]+"\} \d+/m);
    expect(metrics).toMatch(/^clearance_customers_decided_total\{outcome="approved"\} \d+/m);
    expect(metrics).toMatch(/^clearance_reports_total\{outcome="sent"\} \d+/m);
    expect(metrics).toMatch(/^optimove_requests_total\{call="getProcessedCampaignCustomers",outcome="[a-z_]+"\} \d+/im);
    expect(metrics).toMatch(/^promo_requests_total\{call="activate",outcome="activated"\} \d+/m);
    expect(metrics).toMatch(/^profile_requests_total\{call="batch",outcome="ok"\} \d+/m);
    expect(metrics).toMatch(/^audit_writer_batch_size_count \d+/m);
    expect(metrics).toMatch(/^gateway_breaker_state\{dependency="promo"\} 0/m);
    expect(metrics).toContain('# TYPE gateway_request_duration_seconds histogram');
    expect(metrics).toContain('# TYPE clearance_open gauge');
  });

  it('should answer a repeated notification with the same clearance and open another for a new deadline', async () => {
    const campaign = await control('/control/campaigns', { body: { size: 10, leadTimeSeconds: 60 } });
    const first = await notify(campaign.campaignId);
    const again = await notify(campaign.campaignId);
    await control(`/control/campaigns/${campaign.campaignId}`, { method: 'PATCH', body: { leadTimeSeconds: 90 } });
    const moved = await notify(campaign.campaignId);

    expect(again).toBe(first);
    expect(moved).not.toBe(first);
  });

  it('should expire a clearance whose deadline already passed, without any activation', async () => {
    const before = (await (await fetch(`${sandbox.promoUrl}/control/activations`)).json()) as any;
    const campaign = await control('/control/campaigns', {
      body: { size: 50, promoCodes: ['LATE'], clearanceRequiredBy: new Date(Date.now() - 60_000).toISOString() },
    });
    const clearanceId = await notify(campaign.campaignId);
    await sleep(1_500);

    expect((await clearance(clearanceId)).status).toBe('expired');
    const after = (await (await fetch(`${sandbox.promoUrl}/control/activations`)).json()) as any;
    expect(after.count).toBe(before.count);
  });
});
