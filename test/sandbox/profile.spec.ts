import {
  BLOCKED_COUNTRIES,
  generateProfile,
  MIN_DEPOSIT,
  PROFILE_DISTRIBUTION,
  Sandbox,
  startSandbox,
} from '../../apps/sandbox/src';
import { call } from './sandbox-http.helper';

describe('profile source stand-in', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false, profileSeed: 7 });
  });
  afterAll(() => sandbox.stop());

  const batch = (customerIds: unknown) => call(`${sandbox.profileUrl}/profiles/batch`, { body: { customerIds } });

  it('should generate the same profiles for the same seed and different ones for another seed', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `C${i + 1}`);
    const once = ids.map((id) => generateProfile(7, id));
    const twice = ids.map((id) => generateProfile(7, id));
    const otherSeed = ids.map((id) => generateProfile(8, id));

    expect(twice).toEqual(once);
    expect(otherSeed).not.toEqual(once);
  });

  it('should cover every outcome, each failing profile breaking exactly its rule, near the documented shares', () => {
    const counts = new Map<string, number>();
    const total = 20_000;
    const mismatches: string[] = [];
    for (let n = 1; n <= total; n++) {
      const { outcome, profile, missingField } = generateProfile(7, `C${n}`);
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      if (outcome === 'not_found') {
        expect(profile).toBeUndefined();
        continue;
      }
      const p = profile!;
      const actual = {
        id: p.customerId === `C${n}`,
        activeStatus: p.accountStatus === 'active',
        enoughDeposit: (p.depositTotal ?? MIN_DEPOSIT) >= MIN_DEPOSIT,
        blockedCountry: BLOCKED_COUNTRIES.includes(p.country ?? ''),
        kycFalse: p.kycVerified === false,
        selfExcluded: p.selfExcluded === true,
        fields: Object.keys(p).length,
      };
      const expected = {
        id: true,
        activeStatus: outcome !== 'account_status' && missingField !== 'accountStatus',
        enoughDeposit: outcome !== 'low_deposit',
        blockedCountry: outcome === 'blocked_country',
        kycFalse: outcome === 'kyc',
        selfExcluded: outcome === 'self_excluded',
        fields: outcome === 'missing_field' ? 5 : 6,
      };
      // Plain comparison first: twenty thousand expect() calls would make the test slow.
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        mismatches.push(`C${n}: ${outcome} ${JSON.stringify(actual)}`);
      }
    }
    expect(mismatches).toEqual([]);
    for (const [outcome, share] of PROFILE_DISTRIBUTION) {
      expect(Math.abs((counts.get(outcome) ?? 0) / total - share)).toBeLessThan(0.01);
    }
  });

  it('should serve batches with unknown customers left out and refuse more than 1,000', async () => {
    const ids = Array.from({ length: 1_000 }, (_, i) => `C${i + 1}`);
    const served = await batch(ids);
    const again = await batch(ids);
    const tooMany = await batch([...ids, 'C1001']);
    const expected = ids.map((id) => generateProfile(7, id).profile).filter((profile) => profile !== undefined);

    expect(served.status).toBe(200);
    expect(served.body.profiles).toEqual(expected);
    expect(served.body.profiles.length).toBeLessThan(1_000);
    expect(again.body).toEqual(served.body);
    expect(tooMany.status).toBe(400);
  });

  it('should find customers by outcome and serve single profiles, with 404 for unknown ones', async () => {
    const found = await call(`${sandbox.profileUrl}/control/profiles?outcome=not_found&count=3`);
    const missing = await call(`${sandbox.profileUrl}/profiles/${found.body.customerIds[0]}`);
    const passing = await call(`${sandbox.profileUrl}/control/profiles?outcome=pass&count=1`);
    const single = await call(`${sandbox.profileUrl}/profiles/${passing.body.customerIds[0]}`);

    expect(found.body.customerIds).toHaveLength(3);
    expect(missing.status).toBe(404);
    expect(single.status).toBe(200);
    expect(single.body).toEqual(expect.objectContaining({ accountStatus: 'active', selfExcluded: false }));
  });

  it('should apply exact profiles and deletions set through the control API', async () => {
    const put = await call(`${sandbox.profileUrl}/control/profiles/VIP-1`, {
      method: 'PUT',
      body: { accountStatus: 'closed', country: 'GB', depositTotal: 5, kycVerified: true, selfExcluded: false },
    });
    const passing = await call(`${sandbox.profileUrl}/control/profiles?outcome=pass&count=1`);
    const gone = passing.body.customerIds[0];
    await call(`${sandbox.profileUrl}/control/profiles/${gone}`, { method: 'DELETE' });
    const served = await batch(['VIP-1', gone]);

    expect(put.status).toBe(200);
    expect(served.body.profiles).toEqual([
      {
        customerId: 'VIP-1',
        accountStatus: 'closed',
        country: 'GB',
        depositTotal: 5,
        kycVerified: true,
        selfExcluded: false,
      },
    ]);
    expect((await call(`${sandbox.profileUrl}/profiles/${gone}`)).status).toBe(404);
  });
});
