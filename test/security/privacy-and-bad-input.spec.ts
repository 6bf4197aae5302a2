import { Client } from 'pg';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { freePort, SERVICE_MAIN, SpawnedProcess, spawnNode, waitForStatus } from '../support/processes';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const CANARY = 'PII-CANARY-7f3a9c';
const LISTENER_TOKEN = 'listener-token-0123456789abcdef';
const GATEWAY_TOKEN = 'gateway-token-0123456789abcdefg';
const ADMIN_KEY = 'admin-key-0123456789abcdefgh';
const BODY_LIMIT = 64 * 1024;

describe('privacy and bad input (the built service, every log line captured)', () => {
  let database: TestDatabase;
  let sandbox: Sandbox;
  let service: SpawnedProcess;
  let base: string;

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const triggered = (overrides: Record<string, unknown> = {}, user: Record<string, unknown> = {}) => ({
    user: { user_id: 'C1', is_visitor: false, ...user },
    campaign: {
      id: 9001,
      series_id: 77,
      notes: `call ${CANARY} on +44 7700 900000`,
      tags: [`vip-${CANARY}`, 'weekend'],
      action: {
        id: 3,
        name: `Action ${CANARY}`,
        promo_codes: ['WELCOME10'],
        channels: [{ id: 504, name: `Email ${CANARY}`, brand_id: null, templates: [{ id: 1, name: `Tpl ${CANARY}` }] }],
      },
      ...overrides,
    },
  });

  beforeAll(async () => {
    database = await createTestDatabase('privacy');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = spawnNode(SERVICE_MAIN, {
      DATABASE_URL: database.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'trace',
      HTTP_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      LISTENER_TOKEN,
      GATEWAY_TOKEN,
      AUDIT_API_KEYS: `admin:${ADMIN_KEY}`,
      OPTIMOVE_API_URL: sandbox.optimoveUrl,
      OPTIMOVE_API_KEY: sandbox.apiKey,
      PROMO_API_URL: sandbox.promoUrl,
      PROFILE_API_URL: sandbox.profileUrl,
      CLEARANCE_WORKERS_ENABLED: 'false',
    });
    await waitForStatus(`${base}/health/ready`, 200, 30_000);
  });

  afterAll(async () => {
    service.child.kill('SIGTERM');
    await service.exited();
    await sandbox.stop();
    await database.drop();
  });

  it("should keep Optimove's free text (notes, tags, names) out of the database and the logs", async () => {
    const gateway = `/optimove/triggered?token=${GATEWAY_TOKEN}`;
    const answers = await Promise.all([
      post(gateway, JSON.stringify(triggered())),
      post(gateway, JSON.stringify(triggered({}, { user_id: 'C2' }))),
      post(gateway, JSON.stringify(triggered({}, { user_id: { nested: CANARY } }))),
      post(gateway, JSON.stringify({ ...triggered(), user: { note: CANARY } })),
      post(gateway, `{"user": {"user_id": "${CANARY}"`),
      post(
        `/optimove/events?token=${LISTENER_TOKEN}`,
        JSON.stringify({ EventTypeID: 5, CampaignID: 31, ClearanceRequiredBy: '2030-01-01 10:00:00', Notes: CANARY }),
      ),
      post(`/optimove/events?token=${LISTENER_TOKEN}`, JSON.stringify({ EventTypeID: 5, CampaignID: CANARY })),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 400, 400, 400, 200, 400]);
    for (const answer of answers) {
      expect(await answer.text()).not.toContain(`Tpl ${CANARY}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));

    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const tables: { schema: string; name: string }[] = (
        await client.query(
          `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
            WHERE table_schema IN ('public', 'audit_chain') AND table_type = 'BASE TABLE'`,
        )
      ).rows;
      const found: string[] = [];
      for (const { schema, name } of tables) {
        const { rows } = await client.query(
          `SELECT count(*)::int AS hits FROM "${schema}"."${name}" t WHERE t::text LIKE $1`,
          [`%${CANARY}%`],
        );
        if (rows[0].hits > 0) {
          found.push(`${schema}.${name}`);
        }
      }
      const decisions = (await client.query(`SELECT count(*)::int AS count FROM decisions`)).rows[0].count;

      expect(decisions).toBeGreaterThanOrEqual(5);
      expect(found).toEqual([]);
    } finally {
      await client.end();
    }
    expect(service.output()).not.toContain(CANARY);
    expect(service.output()).not.toContain(GATEWAY_TOKEN);
    expect(service.output()).not.toContain(LISTENER_TOKEN);
  });

  describe('bad input at every endpoint', () => {
    const huge = 'x'.repeat(BODY_LIMIT + 1);
    const endpoints: [string, Record<string, string>][] = [
      [`/optimove/events?token=${LISTENER_TOKEN}`, {}],
      [`/optimove/triggered?token=${GATEWAY_TOKEN}`, {}],
      ['/admin/clearances', { authorization: `Bearer ${ADMIN_KEY}` }],
    ];

    it.each(endpoints)('should answer 413 to an oversized body at %s', async (path, headers) => {
      const response = await post(path, JSON.stringify({ padding: huge }), headers);

      expect(response.status).toBe(413);
      // The gateway keeps its own answer's shape (Optimove reads `allowed`); the other endpoints the shared one.
      expect(await response.json()).toMatchObject(
        path.startsWith('/optimove/triggered') ? { user_id: null, allowed: false } : { statusCode: 413 },
      );
    });

    it.each(endpoints)(
      'should answer 400 to broken JSON, a bare array and wrong types at %s',
      async (path, headers) => {
        const statuses = await Promise.all(
          [
            '{"EventTypeID": 5,',
            '[1, 2, 3]',
            '{"EventTypeID": {"$gt": 1}, "user": "x", "campaignId": [1]}',
            'null',
          ].map(async (body) => (await post(path, body, headers)).status),
        );

        expect(statuses).toEqual([400, 400, 400, 400]);
      },
    );

    it('should answer 400, naming the field, to text PostgreSQL cannot store', async () => {
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const answers = await Promise.all(
        [
          post(
            `/optimove/events?token=${LISTENER_TOKEN}`,
            JSON.stringify({ EventTypeID: 5, CampaignID: 'C\u0000', ClearanceRequiredBy: future }),
          ),
          post(
            `/optimove/events?token=${LISTENER_TOKEN}`,
            JSON.stringify({ EventTypeID: 5, CampaignID: 'C\ud800', ClearanceRequiredBy: future }),
          ),
          post('/admin/clearances', JSON.stringify({ campaignId: 'C\u0000', clearanceRequiredBy: future }), {
            authorization: `Bearer ${ADMIN_KEY}`,
          }),
          post(`/optimove/triggered?token=${GATEWAY_TOKEN}`, JSON.stringify(triggered({}, { user_id: 'C\u0000' }))),
        ].map(async (response) => {
          const answer = await response;

          return { status: answer.status, body: await answer.text() };
        }),
      );

      expect(answers.map((answer) => answer.status)).toEqual([400, 400, 400, 400]);
      expect(answers[0].body).toContain('CampaignID');
      expect(answers[2].body).toContain('campaignId');
      expect(answers[3].body).toContain('user.user_id');
    });

    it('should bound what a huge array inside the limit costs, and answer it clearly', async () => {
      const tags = Array.from({ length: 5_000 }, (_, i) => `t${i}`);
      const response = await post(`/optimove/triggered?token=${GATEWAY_TOKEN}`, JSON.stringify(triggered({ tags })));

      expect([200, 400]).toContain(response.status);
      expect(await response.json()).toMatchObject({ user_id: 'C1', allowed: expect.any(Boolean) });
    });

    it('should ignore unknown fields where Optimove may add them, and name bad query parameters', async () => {
      const extra = await post(
        `/optimove/triggered?token=${GATEWAY_TOKEN}`,
        JSON.stringify({ ...triggered({}, { user_id: 'C3' }), future_field: { anything: true } }),
      );
      const audit = await fetch(`${base}/audit/decisions?limit=99999&colour=red`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });

      expect(extra.status).toBe(200);
      expect(audit.status).toBe(400);
      expect(await audit.json()).toMatchObject({ parameters: expect.arrayContaining(['limit', 'colour']) });
    });

    it('should still be alive after all of it', async () => {
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    });
  });
});
