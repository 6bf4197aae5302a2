import { AuditWriter } from '@app/audit';
import { HttpProfileSourceAdapter, Profile } from '@app/compliance';
import { DecisionBatchRequest, DecisionEngine, parsePolicyDocument, PolicySet } from '@app/decisions';
import {
  ActivationLedger,
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  HttpPromoActivationAdapter,
  PromoActivationPort,
  PromoCallOptions,
  RecordingPromoActivationAdapter,
} from '@app/promo-activation';
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { openMigrated } from './support/decisions';
import { HttpStub, ReceivedRequest, StubReply, startHttpStub } from './support/http-stub';

const GOOD: Omit<Profile, 'customerId'> = {
  accountStatus: 'active',
  country: 'GB',
  depositTotal: 500,
  kycVerified: true,
  selfExcluded: false,
};

const POLICIES = new PolicySet(
  parsePolicyDocument({
    policies: [
      {
        name: 'shadow-trial',
        match: { campaignIds: ['shadow'] },
        mode: 'shadow',
        compliance: { minDepositTotal: 100 },
      },
      { name: 'visitors-welcome', match: { tags: ['open'] }, allowVisitors: true, promo: 'never' },
      { name: 'must-activate', match: { campaignIds: ['always'] }, promo: 'always' },
      {
        name: 'strict',
        match: {},
        compliance: { minDepositTotal: 100, blockedCountries: ['US'], requireKyc: true },
      },
    ],
  }),
);

describe(DecisionEngine.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let profileStub: HttpStub;
  let promoStub: HttpStub;
  let profiles: HttpProfileSourceAdapter;
  let promos: RecordingPromoActivationAdapter;
  let writer: AuditWriter;
  let sut: DecisionEngine;
  const known = new Map<string, Profile>();
  let profileReply: (request: ReceivedRequest) => StubReply | undefined;
  let promoReply: (request: ReceivedRequest) => StubReply;

  function profile(customerId: string, change: Partial<Profile> = {}): void {
    known.set(customerId, { customerId, ...GOOD, ...change });
  }

  function request(overrides: Partial<DecisionBatchRequest>): DecisionBatchRequest {
    const clearanceId = randomUUID();

    return {
      flow: 'scheduled',
      campaignId: '42',
      occurrence: clearanceId,
      clearanceId,
      actionId: '7',
      customers: [],
      deadline: Date.now() + 3000,
      ...overrides,
    };
  }

  const promoPosts = (): string[] =>
    promoStub.requests
      .filter((received) => received.method === 'POST')
      .map((received) => String(received.body.customerId));

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    database = await createTestDatabase('decision_engine');
    dataSource = await openMigrated(database.url);
    profileStub = await startHttpStub((received) => {
      const special = profileReply(received);
      if (special) {
        return special;
      }
      if (received.method === 'POST') {
        const ids = received.body.customerIds as string[];

        return { status: 200, body: { profiles: ids.flatMap((id) => (known.has(id) ? [known.get(id)] : [])) } };
      }
      const id = decodeURIComponent(received.url.split('/').pop() ?? '');

      return known.has(id) ? { status: 200, body: known.get(id) } : { status: 404 };
    });
    promoStub = await startHttpStub((received) => promoReply(received));
    profiles = new HttpProfileSourceAdapter({ url: profileStub.url, timeoutMs: 1000 });
    promos = new RecordingPromoActivationAdapter(
      new HttpPromoActivationAdapter({ url: promoStub.url, requestTimeoutMs: 150, initialBackoffMs: 10 }),
      new ActivationLedger(dataSource),
    );
    writer = new AuditWriter(dataSource, { maxDelayMs: 2 });
    sut = new DecisionEngine(POLICIES, writer, profiles, promos, { promoConcurrency: 4, cancellationTimeoutMs: 2000 });
  });

  afterAll(async () => {
    await sut.drain();
    await writer.close();
    await profiles.onApplicationShutdown();
    await promos.onApplicationShutdown();
    await profileStub.close();
    await promoStub.close();
    await dataSource.destroy();
    await database.drop();
  });

  beforeEach(() => {
    profileStub.requests.length = 0;
    promoStub.requests.length = 0;
    profileReply = () => undefined;
    promoReply = (received) =>
      received.method === 'POST'
        ? { status: 201, body: { activationId: `A-${received.body.customerId}`, status: 'activated' } }
        : { status: 204 };
  });

  it('should apply compliance first and activate promos only for customers who passed', async () => {
    profile('OK');
    profile('CLOSED', { accountStatus: 'closed' });
    profile('POOR', { depositTotal: 10 });
    profile('USA', { country: 'US' });
    profile('NOKYC', { kycVerified: false });
    profile('EXCLUDED', { selfExcluded: true });
    known.set('BARE', { customerId: 'BARE' });
    const ids = ['OK', 'CLOSED', 'POOR', 'USA', 'NOKYC', 'EXCLUDED', 'BARE', 'UNKNOWN'];
    const batch = request({ customers: ids.map((customerId) => ({ customerId })), promoCodes: ['WELCOME'] });

    const result = await sut.decide(batch);

    expect(result.recorded).toBe(true);
    const byCustomer = new Map(result.decisions.map((decision) => [decision.customerId, decision]));
    expect(ids.filter((id) => byCustomer.get(id)?.allowed)).toEqual(['OK']);
    expect(Object.fromEntries(ids.map((id) => [id, byCustomer.get(id)?.reasons.map((reason) => reason.code)]))).toEqual(
      {
        OK: [],
        CLOSED: ['COMPLIANCE_ACCOUNT_STATUS'],
        POOR: ['COMPLIANCE_MIN_DEPOSIT'],
        USA: ['COMPLIANCE_COUNTRY'],
        NOKYC: ['COMPLIANCE_KYC'],
        EXCLUDED: ['COMPLIANCE_SELF_EXCLUDED'],
        BARE: [
          'COMPLIANCE_ACCOUNT_STATUS',
          'COMPLIANCE_MIN_DEPOSIT',
          'COMPLIANCE_COUNTRY',
          'COMPLIANCE_KYC',
          'COMPLIANCE_SELF_EXCLUDED',
        ],
        UNKNOWN: ['PROFILE_NOT_FOUND'],
      },
    );
    expect(promoPosts()).toEqual(['OK']);
    expect(profileStub.requests).toHaveLength(1);
    expect(profileStub.requests[0].body.customerIds).toEqual(ids);
    expect(byCustomer.get('OK')).toMatchObject({
      flow: 'scheduled',
      campaignId: '42',
      actionId: '7',
      seriesId: null,
      clearanceId: batch.clearanceId,
      isVisitor: false,
      mode: 'enforce',
      policy: 'strict',
      reportedAt: null,
      checks: [
        { name: 'profile', outcome: 'pass', durationMs: expect.any(Number) },
        { name: 'compliance', outcome: 'pass', durationMs: expect.any(Number) },
        {
          name: 'promo',
          outcome: 'pass',
          durationMs: expect.any(Number),
          idempotencyKeys: [expect.stringMatching(/^pa1-/)],
        },
      ],
    });
    expect(byCustomer.get('CLOSED')?.checks.find((check) => check.name === 'promo')).toMatchObject({
      outcome: 'skipped',
    });
    const rows: { customer_id: string; allowed: boolean; reason_codes: string[] }[] = await dataSource.query(
      `SELECT customer_id, allowed, reason_codes FROM decisions WHERE clearance_id = $1 ORDER BY customer_id`,
      [batch.clearanceId],
    );
    expect(rows).toHaveLength(ids.length);
    expect(rows.find((row) => row.customer_id === 'UNKNOWN')).toMatchObject({
      allowed: false,
      reason_codes: ['PROFILE_NOT_FOUND'],
    });
  });

  it('should look profiles up in batches of at most 1,000', async () => {
    const customers = Array.from({ length: 2500 }, (_, index) => ({ customerId: `B${index}` }));
    customers.forEach(({ customerId }) => profile(customerId));

    const result = await sut.decide(request({ customers }));

    expect(result.decisions.filter((decision) => decision.allowed)).toHaveLength(2500);
    expect(profileStub.requests.map((received) => (received.body.customerIds as string[]).length).sort()).toEqual([
      1000, 1000, 500,
    ]);
  });

  it('should never activate the same customer twice for one occurrence', async () => {
    profile('TWICE');
    const batch = request({ customers: [{ customerId: 'TWICE', promoCodes: ['P1'] }] });

    const first = await sut.decide(batch);
    const second = await sut.decide({ ...batch, deadline: Date.now() + 3000 });

    expect([first.decisions[0].allowed, second.decisions[0].allowed]).toEqual([true, true]);
    expect(promoPosts()).toEqual(['TWICE']);
  });

  it('should deny visitors, unless the policy allows them, without looking them up', async () => {
    const denied = await sut.decide(request({ customers: [{ customerId: 'V1', isVisitor: true }] }));
    const welcome = await sut.decide(request({ tags: ['open'], customers: [{ customerId: 'V2', isVisitor: true }] }));

    expect(denied.decisions[0]).toMatchObject({ allowed: false, isVisitor: true, reasons: [{ code: 'VISITOR' }] });
    expect(welcome.decisions[0]).toMatchObject({ allowed: true, policy: 'visitors-welcome' });
    expect(profileStub.requests).toHaveLength(0);
  });

  it('should approve everyone and activate nothing in shadow mode, recording the reasons', async () => {
    profile('SH-OK');
    profile('SH-POOR', { depositTotal: 1 });
    const batch = request({
      campaignId: 'shadow',
      promoCodes: ['WELCOME'],
      customers: [{ customerId: 'SH-OK' }, { customerId: 'SH-POOR' }, { customerId: 'SH-NONE' }],
    });

    const result = await sut.decide(batch);

    expect(
      result.decisions.map((decision) => [decision.allowed, decision.mode, decision.reasons.map((r) => r.code)]),
    ).toEqual([
      [true, 'shadow', []],
      [true, 'shadow', ['COMPLIANCE_MIN_DEPOSIT']],
      [true, 'shadow', ['PROFILE_NOT_FOUND']],
    ]);
    expect(promoStub.requests).toHaveLength(0);
    const rows: { mode: string; reason_codes: string[] }[] = await dataSource.query(
      `SELECT mode, reason_codes FROM decisions WHERE clearance_id = $1 AND customer_id = 'SH-POOR'`,
      [batch.clearanceId],
    );
    expect(rows).toEqual([{ mode: 'shadow', reason_codes: ['COMPLIANCE_MIN_DEPOSIT'] }]);
  });

  it('should plan exactly the activations that its promo check then asks for, and none it would not ask', async () => {
    profile('PL1');
    const batch = request({ flow: 'triggered', promoCodes: ['WELCOME', 'SPIN', 'WELCOME'] });
    const planned = (overrides: Partial<DecisionBatchRequest>, customer: { customerId: string; isVisitor?: boolean }) =>
      sut.plannedActivations({ ...batch, ...overrides }, customer).map((activation) => activation.promoCode);

    const plan = sut.plannedActivations(batch, { customerId: 'PL1' });
    const result = await sut.decide({ ...batch, customers: [{ customerId: 'PL1' }] });

    expect(plan.map((activation) => [activation.customerId, activation.promoCode, activation.flow])).toEqual([
      ['PL1', 'WELCOME', 'triggered'],
      ['PL1', 'SPIN', 'triggered'],
    ]);
    expect(result.decisions[0].allowed).toBe(true);
    const promoCheck = result.decisions[0].checks.find((check) => check.name === 'promo');
    expect(promoCheck?.idempotencyKeys).toEqual(plan.map((activation) => activation.idempotencyKey));
    expect(promoStub.requests.map((received) => received.headers['idempotency-key'])).toEqual(
      plan.map((activation) => activation.idempotencyKey),
    );
    expect(planned({ campaignId: 'shadow' }, { customerId: 'PL1' })).toEqual([]);
    expect(planned({ tags: ['open'] }, { customerId: 'PL1' })).toEqual([]);
    expect(planned({}, { customerId: 'PL1', isVisitor: true })).toEqual([]);
    expect(planned({ promoCodes: [] }, { customerId: 'PL1' })).toEqual([]);
    expect(planned({ campaignId: 'always', promoCodes: [] }, { customerId: 'PL1' })).toEqual([]);
  });

  it('should deny with PROMO_REJECTED on a 422, and when the policy requires a code that is missing', async () => {
    profile('REJ');
    profile('NOCODE');
    promoReply = () => ({ status: 422, body: { reason: 'not eligible' } });

    const rejected = await sut.decide(request({ customers: [{ customerId: 'REJ', promoCodes: ['X'] }] }));
    const noCode = await sut.decide(request({ campaignId: 'always', customers: [{ customerId: 'NOCODE' }] }));

    expect(rejected.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'PROMO_REJECTED' }] });
    expect(noCode.decisions[0]).toMatchObject({
      allowed: false,
      policy: 'must-activate',
      reasons: [{ code: 'PROMO_REJECTED' }],
    });
  });

  it('should deny with PROMO_UNAVAILABLE within the deadline when the promo system fails, then cancel', async () => {
    profile('DOWN');
    promoReply = (received) => (received.method === 'POST' ? { status: 503 } : { status: 404 });
    const deadline = Date.now() + 500;

    const result = await sut.decide(
      request({ flow: 'triggered', deadline, customers: [{ customerId: 'DOWN', promoCodes: ['P'] }] }),
    );

    expect(Date.now()).toBeLessThan(deadline + 500);
    expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'PROMO_UNAVAILABLE' }] });
    await sut.drain();
    const key = result.decisions[0].checks.find((check) => check.name === 'promo')?.idempotencyKeys?.[0];
    expect(
      promoStub.requests.filter((received) => received.method === 'DELETE').map((received) => received.url),
    ).toEqual([`/activations/${key}`]);
  });

  it.each([
    [false, 'PROMO_UNAVAILABLE'],
    [true, 'TIMEOUT'],
  ])(
    'should name the promo system when it refused an attempt even past the deadline (ran out of time: %s → %s)',
    async (ranOutOfTime, code) => {
      // A promo system whose last attempt ends only as the deadline aborts the call.
      class EndsAtTheDeadline extends PromoActivationPort {
        activate(_request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
          return new Promise((resolve) =>
            options.signal?.addEventListener(
              'abort',
              () => resolve({ status: 'unavailable', error: 'answered 503', attempts: 2, ranOutOfTime }),
              { once: true },
            ),
          );
        }

        cancel(): Promise<CancellationResult> {
          return Promise.resolve({ status: 'not-activated' });
        }
      }
      profile(`END-${code}`);
      const engine = new DecisionEngine(POLICIES, writer, profiles, new EndsAtTheDeadline(), {
        cancellationTimeoutMs: 1000,
      });

      const result = await engine.decide(
        request({
          flow: 'triggered',
          deadline: Date.now() + 100,
          customers: [{ customerId: `END-${code}`, promoCodes: ['P'] }],
        }),
      );
      await engine.drain();

      expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code }] });
    },
  );

  it('should deny with PROMO_UNAVAILABLE when the promo system is too slow', async () => {
    profile('SLOW');
    promoReply = () => ({ status: 201, body: { activationId: 'late' }, delayMs: 5000 });
    const deadline = Date.now() + 400;

    const result = await sut.decide(
      request({ flow: 'triggered', deadline, customers: [{ customerId: 'SLOW', promoCodes: ['P'] }] }),
    );

    expect(Date.now()).toBeLessThan(deadline + 1500);
    expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'PROMO_UNAVAILABLE' }] });
  });

  it('should deny with PROFILE_NOT_FOUND for a single unknown customer (404)', async () => {
    const result = await sut.decide(request({ flow: 'triggered', customers: [{ customerId: 'NOBODY' }] }));

    expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'PROFILE_NOT_FOUND' }] });
    expect(profileStub.requests.map((received) => `${received.method} ${received.url}`)).toEqual([
      'GET /profiles/NOBODY',
    ]);
  });

  it('should deny with PROFILE_UNAVAILABLE when the profile source fails', async () => {
    profileReply = () => ({ status: 500 });

    const result = await sut.decide(request({ customers: [{ customerId: 'OK' }, { customerId: 'USA' }] }));

    expect(result.decisions.map((decision) => [decision.allowed, decision.reasons[0]?.code])).toEqual([
      [false, 'PROFILE_UNAVAILABLE'],
      [false, 'PROFILE_UNAVAILABLE'],
    ]);
    expect(result.decisions[0].checks[0]).toMatchObject({ name: 'profile', outcome: 'error' });
    expect(promoStub.requests).toHaveLength(0);
  });

  it('should deny with TIMEOUT when the triggered budget runs out during the profile look-up', async () => {
    profileReply = () => ({ status: 200, body: known.get('OK'), delayMs: 3000 });
    const deadline = Date.now() + 150;

    const result = await sut.decide(request({ flow: 'triggered', deadline, customers: [{ customerId: 'OK' }] }));

    expect(Date.now()).toBeLessThan(deadline + 1500);
    expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'TIMEOUT' }] });
    expect(result.decisions[0].checks[0]).toMatchObject({ name: 'profile', outcome: 'timeout' });
  });

  it('should deny with DEADLINE_EXCEEDED when the scheduled cut-off passes', async () => {
    profileReply = () => ({ status: 200, body: { profiles: [] }, delayMs: 3000 });

    const late = await sut.decide(
      request({ deadline: Date.now() + 100, customers: [{ customerId: 'OK' }, { customerId: 'POOR' }] }),
    );
    const past = await sut.decide(request({ deadline: Date.now() - 1, customers: [{ customerId: 'OK' }] }));

    expect(late.decisions.map((decision) => decision.reasons[0].code)).toEqual([
      'DEADLINE_EXCEEDED',
      'DEADLINE_EXCEEDED',
    ]);
    expect(past.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'DEADLINE_EXCEEDED' }] });
  });

  it('should deny when the caller aborts', async () => {
    profileReply = () => ({ status: 200, body: known.get('OK'), delayMs: 3000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);

    const result = await sut.decide(
      request({ flow: 'triggered', signal: controller.signal, customers: [{ customerId: 'OK' }] }),
    );

    expect(result.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'TIMEOUT' }] });
  });

  it('should leave the deadline to a caller whose signal covers it, unless the deadline has already passed', async () => {
    profileReply = () => ({ status: 200, body: known.get('OK'), delayMs: 3000 });
    const controller = new AbortController();
    let abortedAt = Number.POSITIVE_INFINITY;
    setTimeout(() => {
      abortedAt = Date.now();
      controller.abort();
    }, 300);
    const covered = { flow: 'triggered' as const, signal: controller.signal, signalCoversDeadline: true };

    // The engine's own timer would have ended the look-up at the deadline; the caller's abort ends it instead.
    const answered = await sut.decide(
      request({ ...covered, deadline: Date.now() + 100, customers: [{ customerId: 'OK' }] }),
    );
    const answeredAt = Date.now();
    // A deadline already past is the engine's to enforce: the caller's signal may not have fired yet.
    const past = await sut.decide(
      request({
        ...covered,
        signal: new AbortController().signal,
        deadline: Date.now() - 1,
        customers: [{ customerId: 'OK' }],
      }),
    );

    expect(answered.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'TIMEOUT' }] });
    expect(answeredAt).toBeGreaterThanOrEqual(abortedAt);
    expect(past.decisions[0]).toMatchObject({ allowed: false, reasons: [{ code: 'TIMEOUT' }] });
  });

  it('should deny with AUDIT_UNAVAILABLE and cancel the activation when the decision cannot be recorded', async () => {
    profile('UNRECORDED');
    await dataSource.query(`
      CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit refused (simulated)'; END $$`);
    await dataSource.query(
      `CREATE TRIGGER refuse_inserts BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION refuse_all()`,
    );
    let result;
    try {
      result = await sut.decide(request({ customers: [{ customerId: 'UNRECORDED', promoCodes: ['P'] }] }));
    } finally {
      await dataSource.query(`DROP TRIGGER refuse_inserts ON decisions`);
      await dataSource.query(`DROP FUNCTION refuse_all()`);
    }
    await sut.drain();

    expect(result.recorded).toBe(false);
    expect(result.decisions[0]).toMatchObject({
      allowed: false,
      reasons: [{ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining('audit refused') }],
    });
    const key = result.decisions[0].checks.find((check) => check.name === 'promo')?.idempotencyKeys?.[0] ?? '';
    expect(promoStub.requests.map((received) => received.method)).toEqual(['POST', 'DELETE']);
    await expect(new ActivationLedger(dataSource).find(key)).resolves.toMatchObject({ state: 'cancelled' });
  });
});
