import {
  assertPolicyDependencies,
  loadPolicies,
  parsePolicyDocument,
  parsePolicyText,
  PolicyDependencyError,
  PolicyFileError,
  PolicySet,
} from '@app/decisions';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function errorOf(work: () => unknown): PolicyFileError {
  try {
    work();
  } catch (error) {
    if (error instanceof PolicyFileError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a PolicyFileError');
}

describe('policies', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'policies-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('should load a YAML file with the defaults of the contract filled in', async () => {
    const file = join(dir, 'policies.yaml');
    await writeFile(
      file,
      [
        'policies:',
        '  - name: vip-bonus',
        '    match: { campaignIds: [42], tags: [vip] }',
        '    compliance: { minDepositTotal: 100, blockedCountries: [us] }',
        '  - name: everyone',
        '    promo: never',
      ].join('\n'),
    );

    const policies = await loadPolicies(file);

    expect(policies.policies.map((policy) => policy.name)).toEqual(['vip-bonus', 'everyone']);
    expect(policies.policies[0]).toMatchObject({
      mode: 'enforce',
      promo: 'whenPromoCode',
      allowVisitors: false,
      match: { campaignIds: ['42'], tags: ['vip'], actionIds: [] },
      compliance: {
        accountStatuses: ['active'],
        minDepositTotal: 100,
        blockedCountries: ['US'],
        requireKyc: false,
        denySelfExcluded: true,
      },
    });
  });

  it('should load a JSON file', async () => {
    const file = join(dir, 'policies.json');
    await writeFile(file, JSON.stringify({ policies: [{ name: 'json-policy', mode: 'shadow' }] }));

    const policies = await loadPolicies(file);

    expect(policies.policies[0]).toMatchObject({ name: 'json-policy', mode: 'shadow' });
  });

  it('should use the built-in default without a file', async () => {
    const policies = await loadPolicies(undefined);

    expect(policies.policies).toHaveLength(0);
    expect(policies.select({ campaignId: '1' })).toMatchObject({
      name: 'default',
      mode: 'enforce',
      promo: 'whenPromoCode',
      allowVisitors: false,
      compliance: { accountStatuses: ['active'], minDepositTotal: null, requireKyc: false, denySelfExcluded: true },
    });
  });

  it('should name the policy and the field of every error in a JSON file', () => {
    const text = JSON.stringify({
      policies: [
        { name: 'ok' },
        { name: 'vip-bonus', compliance: { minDepositTotal: 'lots' } },
        { name: 'typo', mode: 'enforcing', compliance: { requireKYC: true } },
      ],
    });

    const error = errorOf(() => parsePolicyText(text, '/etc/policies.json'));

    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ policy: '"vip-bonus" (#2)', field: 'compliance.minDepositTotal' }),
        expect.objectContaining({ policy: '"typo" (#3)', field: 'mode' }),
        expect.objectContaining({ policy: '"typo" (#3)', field: 'compliance' }),
      ]),
    );
    expect(error.message).toContain('/etc/policies.json');
    expect(error.message).toContain('policy "vip-bonus" (#2): compliance.minDepositTotal');
    expect(error.message).toContain('requireKYC');
  });

  it('should name the policy and the field of an error in a YAML file', () => {
    const text = ['policies:', '  - name: eu-only', '    compliance:', '      allowedCountries: [GBR]'].join('\n');

    const error = errorOf(() => parsePolicyText(text, 'policies.yml'));

    expect(error.issues).toEqual([
      expect.objectContaining({ policy: '"eu-only" (#1)', field: 'compliance.allowedCountries.0' }),
    ]);
    expect(error.message).toMatch(/ISO 3166/);
  });

  it('should report a policy without a name by its position, and duplicate names', () => {
    const unnamed = errorOf(() => parsePolicyDocument({ policies: [{ promo: 'sometimes' }] }));
    const duplicated = errorOf(() => parsePolicyDocument({ policies: [{ name: 'a' }, { name: 'a' }] }));

    expect(unnamed.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ policy: '#1', field: 'name' }),
        expect.objectContaining({ policy: '#1', field: 'promo' }),
      ]),
    );
    expect(duplicated.issues).toEqual([{ policy: '"a" (#2)', field: 'name', message: 'duplicate policy name' }]);
  });

  it('should report unparseable text and a missing file', async () => {
    expect(errorOf(() => parsePolicyText('policies: [ {name: x', 'p.yaml')).issues[0].field).toBe('(document)');
    expect(errorOf(() => parsePolicyText('{"policies": [', 'p.json')).message).toMatch(/cannot be parsed/);
    await expect(loadPolicies(join(dir, 'missing.yaml'))).rejects.toThrow(/cannot be read/);
  });

  it('should apply the first policy whose match fits, on every match field', () => {
    const set = new PolicySet(
      parsePolicyDocument({
        policies: [
          { name: 'by-campaign', match: { campaignIds: [1], actionIds: ['7'] } },
          { name: 'by-series', match: { seriesIds: ['S1'] } },
          { name: 'by-tag', match: { tags: ['vip', 'gold'] } },
          { name: 'by-promo', match: { promoCodes: ['WELCOME'] } },
          { name: 'catch-all', match: {} },
          { name: 'never-reached' },
        ],
      }),
    );

    expect(set.select({ campaignId: '1', actionId: '7', seriesId: 'S1' }).name).toBe('by-campaign');
    expect(set.select({ campaignId: '1', actionId: '8', seriesId: 'S1' }).name).toBe('by-series');
    expect(set.select({ campaignId: '2', tags: ['x', 'gold'] }).name).toBe('by-tag');
    expect(set.select({ campaignId: '2', promoCodes: ['WELCOME'] }).name).toBe('by-promo');
    expect(set.select({ campaignId: '2' }).name).toBe('catch-all');
    expect(set.reachable().map((policy) => policy.name)).toEqual([
      'by-campaign',
      'by-series',
      'by-tag',
      'by-promo',
      'catch-all',
    ]);
  });

  it('should fall back to the default when nothing matches', () => {
    const set = new PolicySet(parsePolicyDocument({ policies: [{ name: 'only-1', match: { campaignIds: ['1'] } }] }));

    expect(set.select({ campaignId: '2' }).name).toBe('default');
  });

  it('should refuse at start-up a policy that needs an adapter which is not configured', () => {
    const set = new PolicySet(
      parsePolicyDocument({
        policies: [
          {
            name: 'promo-only',
            match: { campaignIds: ['1'] },
            promo: 'always',
            compliance: { accountStatuses: [], denySelfExcluded: false },
          },
          { name: 'trial', mode: 'shadow', promo: 'always' },
        ],
      }),
    );

    expect(() => assertPolicyDependencies(set, { profileSource: true, promoSystem: true })).not.toThrow();
    expect(() => assertPolicyDependencies(set, { profileSource: true, promoSystem: false })).toThrow(
      /policy "promo-only" activates promos/,
    );
    let error: unknown;
    try {
      assertPolicyDependencies(set, { profileSource: false, promoSystem: true });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PolicyDependencyError);
    expect((error as PolicyDependencyError).problems).toEqual([
      expect.stringContaining('policy "trial" applies compliance rules'),
    ]);
  });

  it('should require both adapters for the built-in default', () => {
    expect(() => assertPolicyDependencies(new PolicySet([]), { profileSource: false, promoSystem: false })).toThrow(
      /"default" applies compliance rules.*"default" activates promos/,
    );
  });
});
