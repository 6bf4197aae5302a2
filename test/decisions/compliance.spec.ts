import {
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
});
