import { ConfigurationError } from './configuration.error';
import { parseServiceConfig } from './environment';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseServiceConfig(env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      return error.problems;
    }
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

describe('parseServiceConfig', () => {
  it('should apply the contract defaults to an empty environment', () => {
    const sut = parseServiceConfig({});

    expect(sut.http).toMatchObject({ port: 3000, host: '0.0.0.0', publicBaseUrl: 'http://localhost:3000' });
    expect(sut.database.url).toBeUndefined();
    expect(sut.optimove).toMatchObject({ timezone: 'UTC', registerOnBoot: false, apiUrl: undefined });
    expect(sut.gateway).toMatchObject({ timeoutMs: 2000, marginMs: 250 });
    expect(sut.clearance.safetyMarginSeconds).toBe(60);
    expect(sut.promo.concurrency).toBe(32);
    expect(sut.audit.apiKeys).toEqual([]);
    expect(sut.log.level).toBe('info');
  });

  it('should name every bad variable in one error', () => {
    const problems = problemsOf({ PORT: 'eighty', GATEWAY_TIMEOUT_MS: '9000', OPTIMOVE_TIMEZONE: 'Mars/Olympus' });

    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/^PORT /m);
    expect(problems.join('\n')).toMatch(/^GATEWAY_TIMEOUT_MS /m);
    expect(problems.join('\n')).toMatch(/^OPTIMOVE_TIMEZONE must be an IANA time zone/m);
  });

  it('should put all problems in the message of the error', () => {
    expect(() => parseServiceConfig({ PORT: '-1', LOG_LEVEL: 'loud' })).toThrow(
      /2 problems[\s\S]*PORT[\s\S]*LOG_LEVEL/,
    );
  });

  it('should require DATABASE_URL in production', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^DATABASE_URL is required/)]);
  });

  it('should accept production with a database URL', () => {
    const sut = parseServiceConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://app:pw@db:5432/clearance' });

    expect(sut.database.url).toBe('postgres://app:pw@db:5432/clearance');
  });

  it('should reject a non-postgres DATABASE_URL and a non-http Optimove URL', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://db/x', OPTIMOVE_API_URL: 'ftp://api' });

    expect(problems).toEqual([
      expect.stringMatching(/^DATABASE_URL must be a postgres/),
      expect.stringMatching(/^OPTIMOVE_API_URL must be an http/),
    ]);
  });

  it('should flag an unknown variable under one of the service prefixes as a likely typo', () => {
    expect(problemsOf({ GATEWAY_TIMEOUT: '1000' })).toEqual([expect.stringMatching(/^GATEWAY_TIMEOUT is not a known/)]);
  });

  it('should ignore the service links that Kubernetes injects', () => {
    const sut = parseServiceConfig({
      PROMO_SERVICE_HOST: '10.0.0.1',
      PROMO_PORT_8080_TCP_ADDR: '10.0.0.1',
      PROMO_PORT: 'tcp://x',
    });

    expect(sut.promo.apiUrl).toBeUndefined();
  });

  it('should derive the gateway API URL from the origin of the Optimove API URL', () => {
    const sut = parseServiceConfig({ OPTIMOVE_API_URL: 'https://api5.optimove.net/current/' });

    expect(sut.optimove.apiUrl).toBe('https://api5.optimove.net/current');
    expect(sut.optimove.gatewayApiUrl).toBe('https://api5.optimove.net');
  });

  it('should parse audit keys by role and reject malformed entries', () => {
    const sut = parseServiceConfig({ AUDIT_API_KEYS: 'auditor:aaaaaaaaaaaaaaaa, admin:bbbbbbbbbbbbbbbb' });

    expect(sut.audit.apiKeys).toEqual([
      { role: 'auditor', key: 'aaaaaaaaaaaaaaaa' },
      { role: 'admin', key: 'bbbbbbbbbbbbbbbb' },
    ]);
    expect(problemsOf({ AUDIT_API_KEYS: 'root:cccccccccccccccc,admin:short' })).toEqual([
      expect.stringMatching(/AUDIT_API_KEYS entry 1 must be role:key[\s\S]*entry 2 has a key shorter/),
    ]);
  });

  it('should require a margin smaller than the gateway timeout, except when the timeout is zero', () => {
    expect(problemsOf({ GATEWAY_TIMEOUT_MS: '200', GATEWAY_MARGIN_MS: '200' })).toEqual([
      expect.stringMatching(/GATEWAY_MARGIN_MS must be smaller/),
    ]);
    expect(parseServiceConfig({ GATEWAY_TIMEOUT_MS: '0' }).gateway.timeoutMs).toBe(0);
  });

  it('should list what registration at boot needs', () => {
    const problems = problemsOf({ OPTIMOVE_REGISTER_ON_BOOT: 'true' });

    expect(problems.map((p) => p.split(' ')[0])).toEqual([
      'OPTIMOVE_API_URL',
      'OPTIMOVE_API_KEY',
      'LISTENER_TOKEN',
      'GATEWAY_TOKEN',
    ]);
  });

  it('should refuse secrets too short to be secrets, without echoing them', () => {
    const problems = problemsOf({ LISTENER_TOKEN: 'abc123' });

    expect(problems).toEqual([expect.stringMatching(/^LISTENER_TOKEN must be at least 16/)]);
    expect(problems.join()).not.toContain('abc123');
  });
});
