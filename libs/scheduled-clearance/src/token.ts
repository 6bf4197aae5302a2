import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented secret with the expected one in constant time (both are hashed first, so that neither the
 * content nor the length leaks through timing). An unset expected secret matches nothing.
 */
export function tokenMatches(expected: string | undefined, presented: unknown): boolean {
  if (!expected || typeof presented !== 'string' || presented.length === 0) {
    return false;
  }
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();

  return timingSafeEqual(a, b);
}
