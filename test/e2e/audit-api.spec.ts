import { connectWithRetry } from '@app/database';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { insertDecisionRows } from '../support/decision-rows';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const AUDITOR_KEY = 'auditor-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdefgh';
const DAY = 24 * 60 * 60 * 1000;

interface DecisionPage {
  items: { id: string; campaignId: string; customerId: string; flow: string; allowed: boolean; decidedAt: string }[];
  nextCursor: string | null;
}

describe('audit API', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let service: RunningService;
  const clearanceId = randomUUID();
  const base = Date.now() - 10 * DAY;

  const get = (path: string, key: string | null = AUDITOR_KEY) =>
    fetch(`${service.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const page = async (path: string): Promise<DecisionPage> => {
    const response = await get(path);
    expect(response.status).toBe(200);

    return (await response.json()) as DecisionPage;
  };

  beforeAll(async () => {
    database = await createTestDatabase('audit_api');
    service = await startService(database.url, {
      AUDIT_API_KEYS: `auditor:${AUDITOR_KEY},admin:${ADMIN_KEY}`,
      AUDIT_API_RATE_LIMIT: '1000/60',
    });
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
    await dataSource.query(
      `INSERT INTO clearances (id, campaign_id, clearance_required_by, report_by, decide_by, source, status, total, approved, denied, reported)
       VALUES ($1, '200', now() + interval '1 hour', now() + interval '59 minutes', now() + interval '58 minutes', 'optimove', 'deciding', 10, 4, 3, 2)`,
      [clearanceId],
    );
    await insertDecisionRows(dataSource, [
      { decidedAt: new Date(base + 1 * DAY), campaignId: '200', customerId: 'A1', flow: 'scheduled', clearanceId },
      {
        decidedAt: new Date(base + 2 * DAY),
        campaignId: '200',
        customerId: 'A2',
        flow: 'scheduled',
        clearanceId,
        reasons: ['COMPLIANCE_COUNTRY'],
      },
      {
        decidedAt: new Date(base + 3 * DAY),
        campaignId: '200',
        customerId: 'A3',
        flow: 'triggered',
        reasons: ['TIMEOUT'],
      },
      { decidedAt: new Date(base + 4 * DAY), campaignId: '201', customerId: 'A1', flow: 'triggered' },
      {
        decidedAt: new Date(base + 5 * DAY),
        campaignId: '201',
        customerId: 'A4',
        flow: 'triggered',
        reasons: ['COMPLIANCE_COUNTRY', 'COMPLIANCE_KYC'],
      },
      // A gateway request that could not be read.
      {
        decidedAt: new Date(base + 6 * DAY),
        campaignId: '202',
        customerId: 'A5',
        flow: 'triggered',
        reasons: ['INVALID_REQUEST'],
      },
    ]);
  });

  afterAll(async () => {
    await service.close();
    await dataSource.destroy();
    await database.drop();
  });

  describe('access', () => {
    it('should answer 401 without a key, with a wrong key and with a malformed header', async () => {
      expect((await get('/audit/decisions', null)).status).toBe(401);
      expect((await get('/audit/decisions', 'not-a-key-of-ours-at-all')).status).toBe(401);
      const malformed = await fetch(`${service.url}/audit/decisions`, { headers: { authorization: AUDITOR_KEY } });
      expect(malformed.status).toBe(401);
    });

    it('should let both roles read', async () => {
      expect((await get('/audit/decisions', AUDITOR_KEY)).status).toBe(200);
      expect((await get('/audit/decisions', ADMIN_KEY)).status).toBe(200);
    });
  });

  describe('GET /audit/decisions', () => {
    it('should list newest first', async () => {
      const { items } = await page('/audit/decisions?campaignId=200');

      expect(items.map((item) => item.customerId)).toEqual(['A3', 'A2', 'A1']);
    });

    it.each([
      ['campaignId=201', ['A4', 'A1']],
      ['customerId=A1', ['A1', 'A1']],
      ['flow=scheduled', ['A2', 'A1']],
      ['allowed=true', ['A1', 'A1']],
      ['allowed=false', ['A5', 'A4', 'A3', 'A2']],
      ['reason=INVALID_REQUEST', ['A5']],
      ['reason=COMPLIANCE_COUNTRY', ['A4', 'A2']],
      ['reason=COMPLIANCE_KYC', ['A4']],
      [`clearanceId=${clearanceId}`, ['A2', 'A1']],
      [`from=${new Date(base + 2 * DAY).toISOString()}&to=${new Date(base + 4 * DAY).toISOString()}`, ['A3', 'A2']],
      ['campaignId=200&flow=triggered&allowed=false&reason=TIMEOUT', ['A3']],
    ])('should filter by %s', async (filter, customers) => {
      const { items } = await page(`/audit/decisions?${filter}`);

      expect(items.map((item) => item.customerId)).toEqual(customers);
    });

    it.each([
      ['colour=red', 'colour'],
      ['from=yesterday', 'from'],
      ['limit=1001', 'limit'],
      ['limit=0', 'limit'],
      ['flow=batch', 'flow'],
      ['reason=NOPE', 'reason'],
      ['clearanceId=123', 'clearanceId'],
      ['cursor=garbage', 'cursor'],
      [`from=${new Date(base + 4 * DAY).toISOString()}&to=${new Date(base).toISOString()}`, 'from'],
    ])('should answer 400 naming the parameter for %s', async (query, parameter) => {
      const response = await get(`/audit/decisions?${query}`);
      const body = (await response.json()) as { message: string; parameters?: string[] };

      expect(response.status).toBe(400);
      expect(body.message).toContain(parameter);
      expect(body.parameters ?? [parameter]).toContain(parameter);
    });

    it('should page with a cursor without gaps or repeats while decisions are being inserted', async () => {
      const campaignId = 'paging';
      const existing = await insertDecisionRows(
        dataSource,
        Array.from({ length: 250 }, (_, i) => ({
          campaignId,
          customerId: `P${i}`,
          decidedAt: new Date(base + i * 1000),
        })),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      let insertedWhilePaging = 0;
      do {
        const next: DecisionPage = await page(
          `/audit/decisions?campaignId=${campaignId}&limit=40${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...next.items.map((item) => item.id));
        cursor = next.nextCursor;
        await insertDecisionRows(dataSource, [{ campaignId, customerId: 'late' }]);
        insertedWhilePaging += 1;
      } while (cursor);

      expect(insertedWhilePaging).toBe(7);
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(new Set(existing));
    });
  });

  describe('GET /audit/decisions/{id}', () => {
    it('should answer one decision with the contract fields, and 404 for an unknown id', async () => {
      const [id] = await insertDecisionRows(dataSource, [
        { campaignId: '300', customerId: 'ONE', reasons: ['VISITOR'] },
      ]);
      const found = await get(`/audit/decisions/${id}`);
      const missing = await get(`/audit/decisions/${randomUUID()}`);

      expect(found.status).toBe(200);
      expect(await found.json()).toEqual({
        id,
        flow: 'triggered',
        campaignId: '300',
        actionId: null,
        seriesId: null,
        clearanceId: null,
        customerId: 'ONE',
        isVisitor: false,
        allowed: false,
        mode: 'enforce',
        policy: 'default',
        reasons: [{ code: 'VISITOR', message: 'VISITOR (test)' }],
        checks: [],
        decidedAt: expect.any(String),
        latencyMs: 3,
        reportedAt: null,
      });
      expect(missing.status).toBe(404);
      expect((await get('/audit/decisions/not-a-uuid')).status).toBe(400);
    });
  });

  describe('GET /audit/decisions/export', () => {
    it('should stream every matching decision as NDJSON', async () => {
      await insertDecisionRows(
        dataSource,
        Array.from({ length: 12_000 }, (_, i) => ({ campaignId: 'export', customerId: `E${i}` })),
      );
      const response = await get('/audit/decisions/export?format=ndjson&campaignId=export');
      const lines = (await response.text()).trim().split('\n');

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('application/x-ndjson');
      expect(lines).toHaveLength(12_000);
      expect(new Set(lines.map((line) => (JSON.parse(line) as { customerId: string }).customerId)).size).toBe(12_000);
    });

    it('should stream CSV with a header, quoting and formula defusing', async () => {
      await insertDecisionRows(dataSource, [
        { campaignId: 'csv', customerId: '=HYPERLINK("x")', reasons: ['COMPLIANCE_KYC', 'COMPLIANCE_COUNTRY'] },
        { campaignId: 'csv', customerId: 'plain' },
      ]);
      const response = await get('/audit/decisions/export?format=csv&campaignId=csv');
      const lines = (await response.text()).trim().split('\r\n');

      expect(response.headers.get('content-type')).toContain('text/csv');
      expect(lines[0]).toBe(
        'id,decidedAt,flow,campaignId,actionId,seriesId,clearanceId,customerId,isVisitor,allowed,mode,policy,reasons,latencyMs,reportedAt',
      );
      expect(lines).toHaveLength(3);
      expect(lines.join('\n')).toContain(`"'=HYPERLINK(""x"")"`);
      expect(lines.join('\n')).toContain('COMPLIANCE_KYC|COMPLIANCE_COUNTRY');
    });

    it('should refuse an unknown format', async () => {
      expect((await get('/audit/decisions/export?format=xml')).status).toBe(400);
    });
  });

  describe('clearances and summaries', () => {
    it('should show a clearance with its counts, list it by campaign and status, and 404 an unknown one', async () => {
      const one = await get(`/audit/clearances/${clearanceId}`);
      const listed = (await (await get('/audit/clearances?campaignId=200&status=deciding')).json()) as { id: string }[];
      const none = (await (await get('/audit/clearances?status=completed')).json()) as unknown[];

      expect(await one.json()).toMatchObject({
        id: clearanceId,
        campaignId: '200',
        status: 'deciding',
        total: 10,
        approved: 4,
        denied: 3,
        pending: 3,
        reported: 2,
        deadlineMet: null,
      });
      expect(listed.map((clearance) => clearance.id)).toEqual([clearanceId]);
      expect(none).toEqual([]);
      expect((await get(`/audit/clearances/${randomUUID()}`)).status).toBe(404);
      expect((await get('/audit/clearances?status=lost')).status).toBe(400);
    });

    it('should summarise a campaign by flow, outcome and reason', async () => {
      const response = await get('/audit/campaigns/201/summary');

      expect(await response.json()).toEqual({
        campaignId: '201',
        total: 2,
        byOutcome: [
          { flow: 'triggered', allowed: true, count: 1 },
          { flow: 'triggered', allowed: false, count: 1 },
        ],
        byReason: [
          { flow: 'triggered', allowed: false, reason: 'COMPLIANCE_COUNTRY', count: 1 },
          { flow: 'triggered', allowed: false, reason: 'COMPLIANCE_KYC', count: 1 },
        ],
      });
    });
  });
});

describe('audit API rate limit', () => {
  it('should answer 429 with Retry-After once a key used its allowance, and keep other keys working', async () => {
    const database = await createTestDatabase('audit_rate');
    const service = await startService(database.url, {
      AUDIT_API_KEYS: `auditor:${AUDITOR_KEY},admin:${ADMIN_KEY}`,
      AUDIT_API_RATE_LIMIT: '3/60',
    });
    try {
      const headers = { authorization: `Bearer ${AUDITOR_KEY}` };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await fetch(`${service.url}/audit/clearances`, { headers })).status);
      }
      const limited = await fetch(`${service.url}/audit/clearances`, { headers });
      const otherKey = await fetch(`${service.url}/audit/clearances`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });

      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(otherKey.status).toBe(200);
    } finally {
      await service.close();
      await database.drop();
    }
  });
});
