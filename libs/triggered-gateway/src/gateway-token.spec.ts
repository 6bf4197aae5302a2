import { GatewayTokenVerifier } from './gateway-token';

describe(GatewayTokenVerifier.name, () => {
  it('should accept only the configured token', () => {
    const sut = new GatewayTokenVerifier('s3cret');

    expect(sut.verify('s3cret')).toBe(true);
    expect(sut.verify('s3cret ')).toBe(false);
    expect(sut.verify('')).toBe(false);
    expect(sut.verify(['s3cret'])).toBe(false);
    expect(sut.verify(undefined)).toBe(false);
  });

  it('should refuse everything when no token is configured', () => {
    const sut = new GatewayTokenVerifier(undefined);

    expect(sut.configured).toBe(false);
    expect(sut.verify('')).toBe(false);
    expect(sut.verify('anything')).toBe(false);
  });
});
