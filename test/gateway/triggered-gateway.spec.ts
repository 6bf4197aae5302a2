import { connectWithRetry } from '@app/database';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { call, HttpAnswer } from '../sandbox/sandbox-http.helper';

const allowedOf = (answer: HttpAnswer): boolean => (answer.body as { allowed: boolean }).allowed;
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const TOKEN = 'gateway-secret-token';
const CLEAN = { accountStatus: 'active', country: 'GB', depositTotal: 500, kycVerified: true, selfExcluded: false };
const STRICT_POLICY = {
  policies: [
    {
      name: 'strict',
      match: {},
      mode: 'enforce',
      compliance: {
        accountStatuses: ['active'],
        minDepositTotal: 100,
        blockedCountries: ['US'],
        requireKyc: true,
        denySelfExcluded: true,
      },
      promo: 'whenPromoCode',
      allowVisitors: false,
    },
  ],
};

interface DecisionRow {
  id: string;
  allowed: boolean;
  customer_id: string;
  reason_codes: string[];
  reasons: { code: string; message: string }[];
  checks: { name: string; outcome: string; durationMs: number; detail?: string; idempotencyKeys?: string[] }[];
}

function payload(
  userId: unknown,
  campaignId: number | string,
  options: { promoCodes?: string[] | null; isVisitor?: boolean } = {},
): Record<string, unknown> {
  return {
    user: { user_id: userId, is_visitor: options.isVisitor ?? false },
    campaign: {
      id: campaignId,
      series_id: 77,
      notes: 'free text that is never stored',
      tags: ['vip'],
      action: {
        id: 3,
        name: 'Welcome bonus',
        promo_codes: options.promoCodes ?? null,
        channels: [{ id: 504, name: 'Email', brand_id: null, templates: [{ id: 9, name: 'Template' }] }],
      },
    },
  };
}

/** POSTs `chunks` with chunked transfer encoding (no Content-Length), one write each. */
function postChunked(url: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    // The server may answer and close before the last chunk is written.
    outgoing.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' ? undefined : reject(error)));
    chunks.forEach((chunk) => outgoing.write(chunk));
    outgoing.end();
  });
}

describe('triggered gateway (end to end, sandbox)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sandbox: Sandbox;
  let service: RunningService;

  const ask = (body: unknown, token: string | null = TOKEN, url = service.url): Promise<HttpAnswer> =>
    call(`${url}/optimove/triggered${token === null ? '' : `?token=${token}`}`, { body });
  const setProfile = (customerId: string, profile: Record<string, unknown> = CLEAN) =>
    call(`${sandbox.profileUrl}/control/profiles/${customerId}`, {
      method: 'PUT',
      body: { customerId, ...profile },
    });
  const promoFaults = (faults: Record<string, unknown>) =>
    call(`${sandbox.promoUrl}/control/faults`, { method: 'PUT', body: faults });
  const rows = (campaignId: string, customerId?: string): Promise<DecisionRow[]> =>
    dataSource.query(
      `SELECT id, allowed, customer_id, reason_codes, reasons, checks FROM decisions
       WHERE campaign_id IS NOT DISTINCT FROM $1 AND ($2::text IS NULL OR customer_id = $2)
       ORDER BY decided_at, recorded_at`,
      [campaignId, customerId ?? null],
    );
  const waitForRows = async (campaignId: string, customerId: string | undefined, count: number) => {
    for (let i = 0; i < 100; i++) {
      const found = await rows(campaignId, customerId);
      if (found.length >= count) {
        return found;
      }
      await sleep(50);
    }

    return rows(campaignId, customerId);
  };
  const waitForRowsWhere = async (condition: string, count: number): Promise<DecisionRow[]> => {
    const query = () =>
      dataSource.query(
        `SELECT id, allowed, customer_id, reason_codes, reasons, checks FROM decisions WHERE ${condition}`,
      );
    for (let i = 0; i < 100; i++) {
      const found: DecisionRow[] = await query();
      if (found.length >= count) {
        return found;
      }
      await sleep(50);
    }

    return query();
  };
  const metrics = async (): Promise<string> => (await fetch(`${service.url}/metrics`)).text();

  beforeAll(async () => {
    database = await createTestDatabase('gateway');
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    const policyFile = join(mkdtempSync(join(tmpdir(), 'gateway-')), 'policy.json');
    writeFileSync(policyFile, JSON.stringify(STRICT_POLICY));
    service = await startService(database.url, {
      GATEWAY_TOKEN: TOKEN,
      GATEWAY_TIMEOUT_MS: '1000',
      GATEWAY_MARGIN_MS: '200',
      HTTP_BODY_LIMIT_BYTES: '4096',
      PROFILE_API_URL: sandbox.profileUrl,
      PROMO_API_URL: sandbox.promoUrl,
      POLICY_FILE: policyFile,
    });
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
  });

  afterEach(async () => {
    await call(`${sandbox.promoUrl}/control/faults`, { method: 'DELETE' });
    await call(`${sandbox.profileUrl}/control/faults`, { method: 'DELETE' });
  });

  afterAll(async () => {
    await service?.close();
    await dataSource?.destroy();
    await sandbox?.stop();
    await database?.drop();
  });

  it('should approve a clean customer and have the approval committed before the answer', async () => {
    await setProfile('OK1');

    const answer = await ask(payload('OK1', 9001));
    const committed = await rows('9001', 'OK1');

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ user_id: 'OK1', allowed: true });
    expect(committed).toHaveLength(1);
    expect(committed[0].allowed).toBe(true);
    expect(JSON.stringify(committed[0])).not.toContain('free text');
  });

  it('should echo a numeric user id as it was sent', async () => {
    await setProfile('4242');

    const answer = await ask(payload(4242, 9002));

    expect(answer.body).toEqual({ user_id: 4242, allowed: true });
  });

  it.each([
    ['COMPLIANCE_ACCOUNT_STATUS', 'RS1', { ...CLEAN, accountStatus: 'closed' }],
    ['COMPLIANCE_MIN_DEPOSIT', 'RS2', { ...CLEAN, depositTotal: 5 }],
    ['COMPLIANCE_COUNTRY', 'RS3', { ...CLEAN, country: 'US' }],
    ['COMPLIANCE_KYC', 'RS4', { ...CLEAN, kycVerified: false }],
    ['COMPLIANCE_SELF_EXCLUDED', 'RS5', { ...CLEAN, selfExcluded: true }],
  ])('should deny with %s for a profile that breaks that rule', async (code, customerId, profile) => {
    await setProfile(customerId, profile);

    const answer = await ask(payload(customerId, 9100));
    const recorded = await waitForRows('9100', customerId, 1);

    expect(answer.body).toEqual({ user_id: customerId, allowed: false });
    expect(recorded).toHaveLength(1);
    expect(recorded[0].reason_codes[0]).toBe(code);
  });

  it('should deny with PROFILE_NOT_FOUND, VISITOR and PROMO_REJECTED', async () => {
    await call(`${sandbox.profileUrl}/control/profiles/NF1`, { method: 'DELETE' });
    await setProfile('RJ1');
    await promoFaults({ rejectCustomerIds: ['RJ1'] });

    const notFound = await ask(payload('NF1', 9200));
    const visitor = await ask(payload('V1', 9200, { isVisitor: true }));
    const rejected = await ask(payload('RJ1', 9200, { promoCodes: ['WB10'] }));

    expect([notFound.body.allowed, visitor.body.allowed, rejected.body.allowed]).toEqual([false, false, false]);
    expect((await waitForRows('9200', 'NF1', 1))[0].reason_codes).toEqual(['PROFILE_NOT_FOUND']);
    expect((await waitForRows('9200', 'V1', 1))[0].reason_codes).toEqual(['VISITOR']);
    expect((await waitForRows('9200', 'RJ1', 1))[0].reason_codes).toEqual(['PROMO_REJECTED']);
  });

  it('should deny with PROFILE_UNAVAILABLE while the profile source fails', async () => {
    await setProfile('PU1');
    await call(`${sandbox.profileUrl}/control/faults`, { method: 'PUT', body: { outage: 'error' } });

    const answer = await ask(payload('PU1', 9300));

    expect(answer.body).toEqual({ user_id: 'PU1', allowed: false });
    expect((await waitForRows('9300', 'PU1', 1))[0].reason_codes).toEqual(['PROFILE_UNAVAILABLE']);
  });

  it('should deny with TIMEOUT when the promo system is slower than the budget, and cancel the late activation', async () => {
    await setProfile('SL1');
    await promoFaults({ slowCustomerIds: ['SL1'], slowMs: 1500 });

    const answer = await ask(payload('SL1', 9400, { promoCodes: ['WB10'] }));
    const [recorded] = await waitForRows('9400', 'SL1', 1);
    const promoCheck = recorded.checks.find((check) => check.name === 'promo')!;
    const key = promoCheck.idempotencyKeys![0];
    let activation: HttpAnswer | undefined;
    let ledger: { state: string }[] = [];
    for (let i = 0; i < 100; i++) {
      activation = await call(`${sandbox.promoUrl}/control/activations/${key}`);
      ledger = await dataSource.query(`SELECT state FROM promo_activations WHERE idempotency_key = $1`, [key]);
      if (activation.body?.state === 'cancelled' && ledger[0]?.state === 'cancelled') {
        break;
      }
      await sleep(100);
    }

    expect(answer.body).toEqual({ user_id: 'SL1', allowed: false });
    expect(recorded.allowed).toBe(false);
    expect(recorded.reason_codes).toEqual(['TIMEOUT']);
    expect(promoCheck.outcome).toBe('timeout');
    expect(activation?.body?.state).toBe('cancelled');
    expect(ledger[0]?.state).toBe('cancelled');
  });

  it('should deny with PROMO_UNAVAILABLE while the promo system fails, then open the breaker and deny without asking', async () => {
    const customers = ['PF1', 'PF2', 'PF3', 'PF4', 'PF5', 'PF6'];
    await Promise.all([...customers, 'PF7'].map((id) => setProfile(id)));
    await promoFaults({ outage: 'error' });

    const failing = await Promise.all(customers.map((id) => ask(payload(id, 9500, { promoCodes: ['WB10'] }))));
    const callsBefore = (await call(`${sandbox.promoUrl}/control/activations`)).body.calls;
    const refused = await ask(payload('PF7', 9500, { promoCodes: ['WB10'] }));
    const callsAfter = (await call(`${sandbox.promoUrl}/control/activations`)).body.calls;
    const [refusedRow] = await waitForRows('9500', 'PF7', 1);
    const openMetrics = await metrics();

    expect(failing.map(allowedOf)).toEqual(customers.map(() => false));
    expect((await waitForRows('9500', 'PF1', 1))[0].reason_codes).toEqual(['PROMO_UNAVAILABLE']);
    expect(refused.body).toEqual({ user_id: 'PF7', allowed: false });
    expect(refusedRow.reason_codes).toEqual(['PROMO_UNAVAILABLE']);
    expect(refusedRow.reasons[0].message).toContain('circuit is open');
    expect(callsAfter).toEqual(callsBefore);
    expect(openMetrics).toContain('gateway_breaker_state{dependency="promo"} 1');

    // Closes again after the open period, once two probes have succeeded.
    await call(`${sandbox.promoUrl}/control/faults`, { method: 'DELETE' });
    await sleep(3_100);
    await Promise.all(['PR1', 'PR2'].map((id) => setProfile(id)));
    const probes = [
      await ask(payload('PR1', 9501, { promoCodes: ['WB10'] })),
      await ask(payload('PR2', 9501, { promoCodes: ['WB10'] })),
    ];

    expect(probes.map(allowedOf)).toEqual([true, true]);
    expect(await metrics()).toContain('gateway_breaker_state{dependency="promo"} 0');
  }, 30_000);

  it('should answer 401 to a wrong or missing token, with no audit record, and count it', async () => {
    const wrong = await ask(payload('TK1', 9600), 'not-the-token');
    const missing = await ask(payload('TK1', 9600), null);

    expect(wrong.status).toBe(401);
    expect(missing.status).toBe(401);
    expect(await rows('9600')).toHaveLength(0);
    expect(await metrics()).toMatch(/gateway_unauthorized_total [2-9]/);
  });

  it('should answer 400 naming the field, and record one denial per malformed request', async () => {
    const notJson = await call(`${service.url}/optimove/triggered?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: undefined,
    });
    const unreadable = await fetch(`${service.url}/optimove/triggered?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user": {"user_id": "BAD1"',
    });
    const noCampaignId = await ask({ ...payload('BAD2', 9700), campaign: { series_id: 1, tags: [], action: {} } });
    const visitorText = payload('BAD3', 9700);
    (visitorText.user as Record<string, unknown>).is_visitor = 'no';
    const mistyped = await ask(visitorText);
    const badTags = payload('BAD4', 9700);
    (badTags.campaign as Record<string, unknown>).tags = [1];
    const mistypedTags = await ask(badTags);

    expect(notJson.status).toBe(400);
    expect(unreadable.status).toBe(400);
    expect(await unreadable.json()).toEqual({ user_id: null, allowed: false, error: 'the body is not valid JSON' });
    expect(noCampaignId.status).toBe(400);
    expect(noCampaignId.body).toEqual({
      user_id: 'BAD2',
      allowed: false,
      error: expect.stringContaining('campaign.id'),
    });
    expect(mistyped.body).toEqual({ user_id: 'BAD3', allowed: false, error: expect.stringContaining('is_visitor') });
    expect(mistypedTags.body.error).toContain('campaign.tags');
    expect(await waitForRows('9700', 'BAD3', 1)).toHaveLength(1);
    expect((await waitForRows('9700', 'BAD4', 1))[0].reason_codes).toEqual(['INVALID_REQUEST']);
    expect(await dataSource.query(`SELECT 1 FROM decisions WHERE customer_id = 'BAD2'`)).toHaveLength(1);
  });

  it('should refuse text PostgreSQL cannot store, without failing the requests that share its statements', async () => {
    const unreadableRows = async (): Promise<number> =>
      (await dataSource.query(`SELECT 1 FROM decisions WHERE customer_id = '(unreadable)'`)).length;
    const unreadableBefore = await unreadableRows();

    // Asked together, so that the look-up and the audit insert would carry both in one statement.
    const [nulInCode, alongside] = await Promise.all([
      ask(payload('NUL1', 9710, { promoCodes: ['W\u0000'] })),
      ask(payload('NUL2', 9710, { promoCodes: ['WB10'] })),
    ]);
    const halfPairInId = await ask(payload('C\ud800', 9710));

    expect(nulInCode.status).toBe(400);
    expect(nulInCode.body).toEqual({
      user_id: 'NUL1',
      allowed: false,
      error: expect.stringContaining('promo_codes[0]'),
    });
    expect(alongside.status).toBe(200);
    expect(alongside.body).toEqual({ user_id: 'NUL2', allowed: expect.any(Boolean) });
    expect(halfPairInId.status).toBe(400);
    expect(halfPairInId.body).toEqual({
      user_id: null,
      allowed: false,
      error: expect.stringContaining('user.user_id'),
    });
    expect((await waitForRows('9710', 'NUL1', 1))[0].reason_codes).toEqual(['INVALID_REQUEST']);
    expect(await waitForRows('9710', 'NUL2', 1)).toHaveLength(1);
    expect(await waitForRowsWhere(`customer_id = '(unreadable)'`, unreadableBefore + 1)).toHaveLength(
      unreadableBefore + 1,
    );
  });

  it('should answer 413 to a body over the limit and record it once, but 401 first to a wrong token', async () => {
    // HTTP_BODY_LIMIT_BYTES is 4096 in this file's service; the padding sits in a field the gateway ignores.
    const oversized = { ...payload('BIG1', 9750), padding: 'x'.repeat(5000) };
    const refused = await ask(oversized);
    const refusedWithoutToken = await ask(oversized, 'not-the-token');
    const justUnder = await ask({ ...payload('BIG2', 9750), padding: 'x'.repeat(3000) });
    // Without a Content-Length the limit is counted as the chunks arrive.
    const chunked = await postChunked(`${service.url}/optimove/triggered?token=${TOKEN}`, [
      JSON.stringify(oversized).slice(0, 3000),
      JSON.stringify(oversized).slice(3000),
    ]);

    expect(refused.status).toBe(413);
    expect(refused.body).toEqual({ user_id: null, allowed: false, error: 'the body is larger than 4096 bytes' });
    expect(refusedWithoutToken.status).toBe(401);
    expect(chunked.status).toBe(413);
    expect(justUnder.status).toBe(200);
    const recorded = await waitForRowsWhere(
      `reasons @> '[{"message": "invalid request: the body is larger than 4096 bytes"}]'`,
      2,
    );
    expect(recorded).toHaveLength(2);
    expect(recorded[0]).toMatchObject({ allowed: false, reason_codes: ['INVALID_REQUEST'] });
  });

  it('should carry the request id and read a body of multi-byte characters whole', async () => {
    await setProfile('Zoë-ß-漢字');
    const response = await fetch(`${service.url}/optimove/triggered?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'gateway-req-1' },
      body: JSON.stringify(payload('Zoë-ß-漢字', 9760)),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('gateway-req-1');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ user_id: 'Zoë-ß-漢字', allowed: true });
  });

  it('should give the same answer twice and activate once, for sequential and concurrent repeats', async () => {
    await Promise.all(['RP1', 'RP2'].map((id) => setProfile(id)));

    const first = await ask(payload('RP1', 9800, { promoCodes: ['WB10'] }));
    const second = await ask(payload('RP1', 9800, { promoCodes: ['WB10'] }));
    const concurrent = await Promise.all([1, 2, 3].map(() => ask(payload('RP2', 9800, { promoCodes: ['WB10'] }))));
    const activations = await call(`${sandbox.promoUrl}/control/activations?campaignId=9800&limit=100`);
    const recorded = await waitForRows('9800', 'RP1', 2);

    expect(first.body).toEqual({ user_id: 'RP1', allowed: true });
    expect(second.body).toEqual({ user_id: 'RP1', allowed: true });
    expect(concurrent.map(allowedOf)).toEqual([true, true, true]);
    const items = (activations.body as { items: { customerId: string }[] }).items;

    expect(items.filter((item) => item.customerId === 'RP1')).toHaveLength(1);
    expect(items.filter((item) => item.customerId === 'RP2')).toHaveLength(1);
    expect(recorded).toHaveLength(2);
    expect(recorded[1].checks[0].detail).toContain(`repeat of decision ${recorded[0].id}`);
    expect(await waitForRows('9800', 'RP2', 3)).toHaveLength(3);
  });

  it('should reserve the activation with the look-up: activated when approved, skipped when a check denies', async () => {
    await setProfile('RV1');
    await setProfile('RV2', { ...CLEAN, country: 'US' });
    const ledgerRows = async (): Promise<{ customer_id: string; state: string; attempts: number }[]> =>
      dataSource.query(
        `SELECT customer_id, state, attempts FROM promo_activations WHERE campaign_id = '9850' ORDER BY customer_id`,
      );

    const approved = await ask(payload('RV1', 9850, { promoCodes: ['WB10'] }));
    const denied = await ask(payload('RV2', 9850, { promoCodes: ['WB10'] }));
    let found = await ledgerRows();
    for (let i = 0; i < 40 && found.some((row) => row.state === 'pending'); i++) {
      await sleep(50);
      found = await ledgerRows();
    }
    const activations = await call(`${sandbox.promoUrl}/control/activations?campaignId=9850&limit=100`);

    expect([approved.body.allowed, denied.body.allowed]).toEqual([true, false]);
    expect(found).toEqual([
      { customer_id: 'RV1', state: 'activated', attempts: 1 },
      { customer_id: 'RV2', state: 'skipped', attempts: 0 },
    ]);
    expect((activations.body as { items: { customerId: string }[] }).items.map((item) => item.customerId)).toEqual([
      'RV1',
    ]);
  });

  it('should have Optimove count exactly our approvals as sent, with one audit record per request', async () => {
    const approved = Array.from({ length: 15 }, (_, n) => `OF${n + 1}`);
    const denied = Array.from({ length: 5 }, (_, n) => `OFD${n + 1}`);
    await Promise.all(approved.map((id) => setProfile(id)));
    await Promise.all(denied.map((id) => setProfile(id, { ...CLEAN, kycVerified: false })));
    await call(`${sandbox.optimoveUrl}/triggered_conditional_execution_gateway`, {
      method: 'PUT',
      headers: { 'X-API-KEY': sandbox.apiKey },
      body: { GatewayURL: `${service.url}/optimove/triggered?token=${TOKEN}`, Timeout: 1000 },
    });

    const fired = await call(`${sandbox.optimoveUrl}/control/triggered`, {
      body: {
        customerIds: [...approved, ...denied],
        campaign: { id: 9900, series_id: 99, action: { id: 4, promo_codes: ['WB10'] } },
        concurrency: 10,
      },
    });
    const recorded = await waitForRows('9900', undefined, 20);

    expect(fired.body.sent).toBe(15);
    expect(fired.body.deniedByGateway).toBe(5);
    expect(fired.body.failures).toEqual({});
    expect(recorded).toHaveLength(20);
    expect(recorded.filter((row) => row.allowed)).toHaveLength(15);
    expect(await metrics()).toMatch(/gateway_decisions_total\{outcome="denied",reason="COMPLIANCE_KYC"\} \d+/);
  });

  it('should deny at once with TIMEOUT, still recording the request, when Optimove gives the gateway no time', async () => {
    const instant = await startService(database.url, {
      GATEWAY_TOKEN: TOKEN,
      GATEWAY_TIMEOUT_MS: '0',
      PROFILE_API_URL: sandbox.profileUrl,
      PROMO_API_URL: sandbox.promoUrl,
    });
    try {
      await setProfile('Z1');

      const answer = await ask(payload('Z1', 9950), TOKEN, instant.url);
      const recorded = await waitForRows('9950', 'Z1', 1);

      expect(answer.body).toEqual({ user_id: 'Z1', allowed: false });
      expect(recorded).toHaveLength(1);
      expect(recorded[0].reason_codes[0]).toBe('TIMEOUT');
    } finally {
      await instant.close();
    }
  });

  it('should answer false and supersede the approval when its commit lands after the budget', async () => {
    await setProfile('LATE1');
    const locker = await connectWithRetry(
      { url: database.url, poolMax: 1, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'lock' },
      5_000,
    );
    const runner = locker.createQueryRunner();
    await runner.startTransaction();
    try {
      // Holds back every INSERT into decisions, so that the approval's commit outlasts the budget.
      await runner.query('LOCK TABLE decisions IN SHARE MODE');
      const answer = await ask(payload('LATE1', 9960));
      await runner.commitTransaction();
      const recorded = await waitForRows('9960', 'LATE1', 2);

      expect(answer.body).toEqual({ user_id: 'LATE1', allowed: false });
      expect(recorded.map((row) => row.allowed)).toEqual([true, false]);
      expect(recorded[1].reason_codes).toEqual(['TIMEOUT']);
      expect(JSON.stringify(recorded[1].checks)).toContain(`approval ${recorded[0].id} committed after`);
      expect(await metrics()).toContain('gateway_late_approvals_total 1');
    } finally {
      await runner.release();
      await locker.destroy();
    }
  });
});
