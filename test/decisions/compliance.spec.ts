import {
  CoalescingProfileSource,
  compileComplianceRules,
  ComplianceRules,
  evaluateCompliance,
  evaluateVisitor,
  HttpProfileSourceAdapter,
  Profile,
  ProfileSourceError,
  toProfile,
} from '@app/compliance';
import { HttpStub, startHttpStub } from './support/http-stub';

const STRICT: ComplianceRules = {
  accountStatuses: ['active'],
  minDepositTotal: 100,
  allowedCountries: [],
  blockedCountries: ['US'],
  requireKyc: true,
  denySelfExcluded: true,
};

const GOOD: Profile = {
  customerId: 'C1',
  accountStatus: 'active',
  country: 'GB',
  depositTotal: 250,
  kycVerified: true,
  selfExcluded: false,
};

function codes(profile: Profile, rules: ComplianceRules = STRICT): string[] {
  return evaluateCompliance(profile, compileComplianceRules(rules)).map((violation) => violation.code);
}

describe('compliance rules', () => {
  it('should pass a customer who meets every rule', () => {
    expect(codes(GOOD)).toEqual([]);
  });

  it.each([
    ['COMPLIANCE_ACCOUNT_STATUS', { accountStatus: 'closed' }],
    ['COMPLIANCE_MIN_DEPOSIT', { depositTotal: 99.99 }],
    ['COMPLIANCE_COUNTRY', { country: 'us' }],
    ['COMPLIANCE_KYC', { kycVerified: false }],
    ['COMPLIANCE_SELF_EXCLUDED', { selfExcluded: true }],
  ])('should yield %s when its rule fails', (code, change) => {
    const violations = evaluateCompliance({ ...GOOD, ...change }, compileComplianceRules(STRICT));

    expect(violations.map((violation) => violation.code)).toEqual([code]);
    expect(violations[0].message.length).toBeGreaterThan(5);
  });

  it('should fail every check whose field is missing', () => {
    expect(codes({ customerId: 'C2' })).toEqual([
      'COMPLIANCE_ACCOUNT_STATUS',
      'COMPLIANCE_MIN_DEPOSIT',
      'COMPLIANCE_COUNTRY',
      'COMPLIANCE_KYC',
      'COMPLIANCE_SELF_EXCLUDED',
    ]);
  });

  it('should only let allowed countries through when a list is given', () => {
    const rules = { ...STRICT, allowedCountries: ['gb', 'IE'], blockedCountries: [] };

    expect(codes(GOOD, rules)).toEqual([]);
    expect(codes({ ...GOOD, country: 'IE' }, rules)).toEqual([]);
    expect(codes({ ...GOOD, country: 'FR' }, rules)).toEqual(['COMPLIANCE_COUNTRY']);
  });

  it('should compare account statuses case-insensitively and skip rules that are off', () => {
    const off: ComplianceRules = {
      accountStatuses: [],
      minDepositTotal: null,
      allowedCountries: [],
      blockedCountries: [],
      requireKyc: false,
      denySelfExcluded: false,
    };

    expect(codes({ ...GOOD, accountStatus: 'ACTIVE' })).toEqual([]);
    expect(codes({ customerId: 'C3' }, off)).toEqual([]);
    expect(compileComplianceRules(off).needsProfile).toBe(false);
    expect(compileComplianceRules(STRICT).needsProfile).toBe(true);
  });

  it('should deny visitors unless the policy allows them', () => {
    expect(evaluateVisitor(true, false)?.code).toBe('VISITOR');
    expect(evaluateVisitor(true, true)).toBeNull();
    expect(evaluateVisitor(false, false)).toBeNull();
  });

  it('should treat fields of the wrong type as missing', () => {
    const profile = toProfile({ customerId: 7, accountStatus: 1, depositTotal: '500', kycVerified: 'yes' });

    expect(profile).toEqual({ customerId: '7' });
    expect(toProfile({ accountStatus: 'active' })).toBeUndefined();
  });
});

describe(HttpProfileSourceAdapter.name, () => {
  let stub: HttpStub;
  let sut: HttpProfileSourceAdapter;

  beforeAll(async () => {
    stub = await startHttpStub(() => ({ status: 500 }));
    sut = new HttpProfileSourceAdapter({ url: `${stub.url}/base/`, token: 'secret-token', timeoutMs: 300 });
  });

  afterAll(async () => {
    await sut.onApplicationShutdown();
    await stub.close();
  });

  beforeEach(() => {
    stub.requests.length = 0;
  });

  it('should look up a batch with a bearer token and leave unknown customers out', async () => {
    stub.handler = (request) => ({
      status: 200,
      body: {
        profiles: (request.body.customerIds as string[])
          .filter((id) => id !== 'C2')
          .map((id) => ({ ...GOOD, customerId: id })),
      },
    });

    const profiles = await sut.fetchProfiles(['C1', 'C2', 'C3']);

    expect([...profiles.keys()]).toEqual(['C1', 'C3']);
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]).toMatchObject({
      method: 'POST',
      url: '/base/profiles/batch',
      body: { customerIds: ['C1', 'C2', 'C3'] },
    });
    expect(stub.requests[0].headers.authorization).toBe('Bearer secret-token');
  });

  it('should refuse a batch of more than 1,000 customers without calling the source', async () => {
    const ids = Array.from({ length: 1001 }, (_, index) => `C${index}`);

    await expect(sut.fetchProfiles(ids)).rejects.toThrow(RangeError);
    expect(stub.requests).toHaveLength(0);
  });

  it('should answer null for a single customer the source does not know (404)', async () => {
    stub.handler = (request) =>
      request.url.endsWith('/C404') ? { status: 404, body: 'not found' } : { status: 200, body: GOOD };

    await expect(sut.fetchProfile('C404')).resolves.toBeNull();
    await expect(sut.fetchProfile('C1')).resolves.toEqual(GOOD);
    expect(stub.requests.map((request) => request.url)).toEqual(['/base/profiles/C404', '/base/profiles/C1']);
  });

  it('should report a failing source as unavailable', async () => {
    stub.handler = () => ({ status: 503 });

    const error = await sut.fetchProfiles(['C1']).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ProfileSourceError);
    expect(error).toMatchObject({ code: 'PROFILE_UNAVAILABLE', kind: 'failed' });
  });

  it('should give up on a slow source after its timeout', async () => {
    stub.handler = () => ({ status: 200, body: GOOD, delayMs: 3000 });
    const started = Date.now();

    const error = await sut.fetchProfile('C1').catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'PROFILE_UNAVAILABLE', kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("should honour the caller's AbortSignal", async () => {
    stub.handler = () => ({ status: 200, body: GOOD, delayMs: 3000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);

    const error = await sut.fetchProfile('C1', { signal: controller.signal }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ kind: 'aborted' });
  });

  it('should report garbage answers as unavailable', async () => {
    stub.handler = () => ({ status: 200, body: { nothing: true } });

    await expect(sut.fetchProfiles(['C1'])).rejects.toMatchObject({ kind: 'failed' });
  });

  it('should report an answer that is not JSON as unavailable without quoting it (it holds profiles)', async () => {
    stub.handler = () => ({ status: 200, rawBody: '{"profiles":[{"customerId":"C1","email":alice@example.com}' });

    const error = await sut.fetchProfiles(['C1']).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ kind: 'failed', message: 'profile source answered invalid JSON (58 characters)' });
    expect(String((error as Error).message)).not.toContain('alice');
  });

  it('should accept an answer that starts with a byte-order mark', async () => {
    stub.handler = () => ({ status: 200, rawBody: `\uFEFF${JSON.stringify(GOOD)}` });

    await expect(sut.fetchProfile('C1')).resolves.toEqual(GOOD);
  });
});

describe(CoalescingProfileSource.name, () => {
  let stub: HttpStub;
  let http: HttpProfileSourceAdapter;
  let sut: CoalescingProfileSource;

  /** Answers every batch with the known customers (all but C404), after `delayMs`. */
  function answerBatches(delayMs = 0): void {
    stub.handler = (request) => ({
      status: 200,
      delayMs,
      body: {
        profiles: ((request.body?.customerIds as string[] | undefined) ?? [])
          .filter((id) => id !== 'C404')
          .map((id) => ({ ...GOOD, customerId: id })),
      },
    });
  }

  beforeAll(async () => {
    stub = await startHttpStub(() => ({ status: 500 }));
    http = new HttpProfileSourceAdapter({ url: stub.url, timeoutMs: 2000 });
    sut = new CoalescingProfileSource(http, { maxInFlight: 1 });
  });

  afterAll(async () => {
    await http.onApplicationShutdown();
    await stub.close();
  });

  beforeEach(() => {
    stub.requests.length = 0;
  });

  it('should send look-ups of the same turn as one batch call and answer each caller its own profile', async () => {
    answerBatches();

    const answers = await Promise.all(['C1', 'C2', 'C404', 'C1'].map((id) => sut.fetchProfile(id)));

    expect(answers.map((profile) => profile?.customerId ?? null)).toEqual(['C1', 'C2', null, 'C1']);
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]).toMatchObject({ method: 'POST', url: '/profiles/batch' });
    expect(stub.requests[0].body).toEqual({ customerIds: ['C1', 'C2', 'C404'] });
  });

  it('should gather the look-ups that arrive while a batch is out into the next one', async () => {
    answerBatches(100);
    const first = sut.fetchProfile('C1');
    await new Promise((resolve) => setTimeout(resolve, 30));

    const later = await Promise.all([sut.fetchProfile('C2'), first, sut.fetchProfile('C3')]);

    expect(later.map((profile) => profile?.customerId)).toEqual(['C2', 'C1', 'C3']);
    expect(stub.requests.map((request) => request.body.customerIds)).toEqual([['C1'], ['C2', 'C3']]);
  });

  it('should answer an aborted caller at once and still answer the others of its batch', async () => {
    answerBatches(200);
    const controller = new AbortController();
    const leaving = sut.fetchProfile('C1', { signal: controller.signal }).catch((error: unknown) => error);
    const staying = sut.fetchProfile('C2');
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();

    await expect(leaving).resolves.toMatchObject({ code: 'PROFILE_UNAVAILABLE', kind: 'aborted' });
    expect(Date.now() - started).toBeLessThan(150);
    await expect(staying).resolves.toMatchObject({ customerId: 'C2' });
  });

  it('should refuse a caller whose signal is already aborted without calling the source', async () => {
    answerBatches();
    const controller = new AbortController();
    controller.abort();

    await expect(sut.fetchProfile('C1', { signal: controller.signal })).rejects.toMatchObject({ kind: 'aborted' });
    expect(stub.requests).toHaveLength(0);
  });

  it("should fail every caller of a failed batch with the source's error", async () => {
    stub.handler = () => ({ status: 503 });

    const errors = await Promise.all(['C1', 'C2'].map((id) => sut.fetchProfile(id).catch((error: unknown) => error)));

    expect(errors).toEqual([
      expect.objectContaining({ code: 'PROFILE_UNAVAILABLE', kind: 'failed' }),
      expect.objectContaining({ code: 'PROFILE_UNAVAILABLE', kind: 'failed' }),
    ]);
    expect(stub.requests).toHaveLength(1);
  });

  it('should split more than 1,000 waiting customers into batches the source accepts', async () => {
    answerBatches();
    const ids = Array.from({ length: 1500 }, (_, index) => `K${index}`);

    const profiles = await Promise.all(ids.map((id) => sut.fetchProfile(id)));

    expect(profiles.every((profile, index) => profile?.customerId === ids[index])).toBe(true);
    expect(stub.requests.map((request) => (request.body.customerIds as string[]).length)).toEqual([1000, 500]);
  });
});
