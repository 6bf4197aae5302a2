import { hash } from 'node:crypto';

/** What makes one activation: the same parts always give the same key, on any replica, after any restart. */
export interface ActivationKeyParts {
  campaignId: string;
  /** Which occurrence of the campaign: the clearance id for the scheduled flow, the flow's own id for triggered. */
  occurrence: string;
  customerId: string;
  promoCode: string;
}

/** Bump when the encoding changes, so that keys of the old and new encodings can never collide. */
const KEY_VERSION = 1;

/**
 * The idempotency key of an activation: SHA-256 over a versioned JSON array of the parts (JSON escaping keeps the
 * encoding unambiguous whatever characters the ids hold), as `pa1-<base64url>`; 47 characters.
 */
export function activationIdempotencyKey(parts: ActivationKeyParts): string {
  const encoded = JSON.stringify([
    'promo-activation',
    KEY_VERSION,
    parts.campaignId,
    parts.occurrence,
    parts.customerId,
    parts.promoCode,
  ]);

  // One-shot hashing: no Hash object per key.
  return `pa${KEY_VERSION}-${hash('sha256', encoded, 'base64url')}`;
}
