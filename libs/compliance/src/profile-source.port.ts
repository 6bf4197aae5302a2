import { Profile } from './profile';

/** Most customers one batch look-up may carry (the profile source's limit). */
export const PROFILE_BATCH_LIMIT = 1000;

/** Per-call options of {@link ProfileSourcePort}. */
export interface ProfileLookupOptions {
  /** Aborts the look-up; it then rejects with a {@link ProfileSourceError}. */
  signal?: AbortSignal;
}

/**
 * The customer profile source that compliance reads. Implementations reject with {@link ProfileSourceError} when the
 * source fails, is too slow, or the call is aborted; an unknown customer is not an error.
 */
export abstract class ProfileSourcePort {
  /** Profiles of up to {@link PROFILE_BATCH_LIMIT} customers, keyed by customer id; unknown customers are absent. */
  abstract fetchProfiles(customerIds: readonly string[], options?: ProfileLookupOptions): Promise<Map<string, Profile>>;

  /** One customer's profile, or null when the source does not know the customer. */
  abstract fetchProfile(customerId: string, options?: ProfileLookupOptions): Promise<Profile | null>;
}

/** The profile source could not answer: it failed, answered garbage, was too slow, or the call was aborted. */
export class ProfileSourceError extends Error {
  readonly code = 'PROFILE_UNAVAILABLE';

  constructor(
    message: string,
    readonly kind: 'failed' | 'timeout' | 'aborted',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProfileSourceError';
  }
}
