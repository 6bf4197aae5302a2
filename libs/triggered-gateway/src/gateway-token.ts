import { hash, timingSafeEqual } from 'node:crypto';

/** One-shot SHA-256 (no Hash object per request) of the UTF-8 text. */
function digest(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/**
 * Checks the `token` query parameter in constant time: both sides are hashed first, so that neither the length nor
 * the content of the expected token leaks through timing. Without a configured token every request is refused.
 */
export class GatewayTokenVerifier {
  private readonly expected: Buffer | null;

  constructor(token: string | undefined) {
    this.expected = token ? digest(token) : null;
  }

  get configured(): boolean {
    return this.expected !== null;
  }

  verify(offered: unknown): boolean {
    if (this.expected === null || typeof offered !== 'string') {
      return false;
    }

    return timingSafeEqual(digest(offered), this.expected);
  }
}
