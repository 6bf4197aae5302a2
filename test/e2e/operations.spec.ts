import { connectWithRetry } from '@app/database';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const LISTENER_TOKEN = 'listener-token-0123456789abcdef';
const GATEWAY_TOKEN = 'gateway-token-0123456789abcdefg';
const ADMIN_KEY = 'admin-key-0123456789abcdefgh';
const AUDITOR_KEY = 'auditor-key-0123456789abcdef';

describe('operations and the event listener', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let service: RunningService;
  let env: Record<string, string>;

  const call = (path: string, init: { key?: string; body?: unknown; method?: string } = {}) =>
    fetch(`${service.url}${path}`, {
      method: init.method ?? 'POST',
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();

  beforeAll(async () => {
    database = await createTestDatabase('operations');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    env = {
      LISTENER_TOKEN,
      GATEWAY_TOKEN,
      PUBLIC_BASE_URL: 'https://clearance.brand.example',
      AUDIT_API_KEYS: `admin:${ADMIN_KEY},auditor:${AUDITOR_KEY}`,
      OPTIMOVE_API_URL: `${sandbox.optimoveUrl}/current`,
      OPTIMOVE_API_KEY: sandbox.apiKey,
      OPTIMOVE_TIMEZONE: 'Europe/London',
      GATEWAY_TIMEOUT_MS: '1500',
      CLEARANCE_WORKERS_ENABLED: 'false',
    };
    service = await startService(database.url, env);
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

  describe('POST /admin/optimove/register', () => {
    it('should register the listener and the gateway with their tokens, never echoing the tokens', async () => {
      const response = await call('/admin/optimove/register', { key: ADMIN_KEY });
      const body = (await response.json()) as Record<string, unknown>;

      expect(response.status).toBe(200);
      expect(body).toEqual({
        listenerUrl: 'https://clearance.brand.example/optimove/events?token=[REDACTED]',
        gatewayUrl: 'https://clearance.brand.example/optimove/triggered?token=[REDACTED]',
        gatewayTimeoutMs: 1500,
        changed: true,
      });
      const listeners = (await (
        await fetch(`${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`, {
          headers: { 'x-api-key': sandbox.apiKey },
        })
      ).json()) as { EventTypeID: number; ListenerURL: string }[];
      expect(listeners).toContainEqual(
        expect.objectContaining({
          EventTypeID: 5,
          ListenerURL: `https://clearance.brand.example/optimove/events?token=${LISTENER_TOKEN}`,
        }),
      );
      const state = (await (await fetch(`${sandbox.optimoveUrl}/control/state`)).json()) as { gateway: unknown };
      expect(JSON.stringify(state.gateway)).toContain(`/optimove/triggered?token=${GATEWAY_TOKEN}`);
    });

    it('should refuse an auditor (403) and an anonymous caller (401)', async () => {
      expect((await call('/admin/optimove/register', { key: AUDITOR_KEY })).status).toBe(403);
      expect((await call('/admin/optimove/register')).status).toBe(401);
    });

    it('should register at boot once for the deployment', async () => {
      await dataSource.query(`DELETE FROM scheduled_task_runs`);
      const first = await startService(database.url, { ...env, OPTIMOVE_REGISTER_ON_BOOT: 'true' });
      const second = await startService(database.url, { ...env, OPTIMOVE_REGISTER_ON_BOOT: 'true' });
      await Promise.all([first.close(), second.close()]);
      const runs: { last_result: string }[] = await dataSource.query(
        `SELECT last_result FROM scheduled_task_runs WHERE task = 'optimove-registration'`,
      );

      expect(runs).toHaveLength(1);
      expect(runs[0]?.last_result).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  describe('POST /admin/clearances', () => {
    it('should open a clearance and deduplicate a second request like a notification', async () => {
      const deadline = inAnHour();
      const first = await call('/admin/clearances', {
        key: ADMIN_KEY,
        body: { campaignId: 'ops-1', clearanceRequiredBy: deadline },
      });
      const again = await call('/admin/clearances', {
        key: ADMIN_KEY,
        body: { campaignId: 'ops-1', clearanceRequiredBy: deadline },
      });
      const a = (await first.json()) as { clearanceId: string; outcome: string };
      const b = (await again.json()) as { clearanceId: string; outcome: string };

      expect(first.status).toBe(200);
      expect(a.outcome).toBe('clearance_created');
      expect(b).toEqual({ clearanceId: a.clearanceId, outcome: 'duplicate' });
    });

    it.each([
      [{ clearanceRequiredBy: '2030-01-01T00:00:00Z' }, 'campaignId'],
      [{ campaignId: 'ops-2', clearanceRequiredBy: 'next tuesday' }, 'clearanceRequiredBy'],
      [{ campaignId: { nested: true }, clearanceRequiredBy: '2030-01-01T00:00:00Z' }, 'campaignId'],
    ])('should answer 400 naming the field for %j', async (body, field) => {
      const response = await call('/admin/clearances', { key: ADMIN_KEY, body });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field });
    });

    it('should refuse an auditor', async () => {
      const response = await call('/admin/clearances', {
        key: AUDITOR_KEY,
        body: { campaignId: 'ops-3', clearanceRequiredBy: inAnHour() },
      });

      expect(response.status).toBe(403);
    });
  });

  describe('POST /optimove/events', () => {
    const listener = `/optimove/events?token=${LISTENER_TOKEN}`;

    it('should answer 401 for a wrong or missing token, and record nothing', async () => {
      const body = { EventTypeID: 5, CampaignID: 1, ClearanceRequiredBy: '2030-01-01 10:00:00' };

      expect((await call('/optimove/events?token=nope', { body })).status).toBe(401);
      expect((await call('/optimove/events', { body })).status).toBe(401);
      const clearances: unknown[] = await dataSource.query(`SELECT 1 FROM clearances WHERE campaign_id = '1'`);
      expect(clearances).toHaveLength(0);
    });

    it('should read keys in any case, ids as strings or numbers, and times in the Optimove zone', async () => {
      const response = await call(listener, {
        body: {
          eventtypeid: '5',
          campaignid: 4242,
          clearancerequiredby: '2030-07-01 12:00:00',
          TimeStamp: 'garbage',
          Extra: 1,
        },
      });
      const { clearanceId } = (await response.json()) as { clearanceId: string };
      const rows: { campaign_id: string; clearance_required_by: Date }[] = await dataSource.query(
        `SELECT campaign_id, clearance_required_by FROM clearances WHERE id = $1`,
        [clearanceId],
      );

      expect(response.status).toBe(200);
      expect(rows[0]?.campaign_id).toBe('4242');
      // 12:00 in London in July is 11:00 UTC (summer time).
      expect(rows[0]?.clearance_required_by.toISOString()).toBe('2030-07-01T11:00:00.000Z');
    });

    it('should accept ISO 8601 with an offset', async () => {
      const response = await call(listener, {
        body: { EventTypeID: 5, CampaignID: 'iso-1', ClearanceRequiredBy: '2030-07-01T12:00:00+02:00' },
      });

      expect(response.status).toBe(200);
      const { clearanceId } = (await response.json()) as { clearanceId: string };
      const rows: { clearance_required_by: Date }[] = await dataSource.query(
        `SELECT clearance_required_by FROM clearances WHERE id = $1`,
        [clearanceId],
      );
      expect(rows[0]?.clearance_required_by.toISOString()).toBe('2030-07-01T10:00:00.000Z');
    });

    it('should record other event types and start nothing', async () => {
      const response = await call(listener, { body: { EventTypeID: 13, CampaignID: 77, ChannelID: 504 } });
      const recorded: { outcome: string; event_type_id: number }[] = await dataSource.query(
        `SELECT outcome, event_type_id FROM notifications WHERE campaign_id = '77'`,
      );

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ clearanceId: null });
      expect(recorded).toEqual([{ outcome: 'ignored', event_type_id: 13 }]);
    });

    it.each([
      [{ CampaignID: 1, ClearanceRequiredBy: '2030-01-01 10:00:00' }, 'EventTypeID'],
      [{ EventTypeID: 5, ClearanceRequiredBy: '2030-01-01 10:00:00' }, 'CampaignID'],
      [{ EventTypeID: 5, CampaignID: 1 }, 'ClearanceRequiredBy'],
      [{ EventTypeID: 5, CampaignID: 1, ClearanceRequiredBy: '31/12/2030' }, 'ClearanceRequiredBy'],
      [{ EventTypeID: 5, CampaignID: [1], ClearanceRequiredBy: '2030-01-01 10:00:00' }, 'CampaignID'],
      ['just a string', 'body'],
    ])('should answer 400 naming the field for %j', async (body, field) => {
      const response = await call(listener, { body });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ field, message: expect.stringContaining(field) });
    });

    it('should accept the notification as query parameters on GET', async () => {
      const response = await fetch(
        `${service.url}${listener}&EventTypeID=5&CampaignID=q-1&ClearanceRequiredBy=2030-01-01%2010:00:00`,
      );

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ clearanceId: expect.any(String) });
    });
  });
});
