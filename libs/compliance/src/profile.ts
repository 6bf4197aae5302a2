/**
 * A customer's profile as the profile source describes it. Every field but the id may be missing; a missing field
 * fails the checks that need it.
 */
export interface Profile {
  customerId: string;
  accountStatus?: string;
  /** ISO 3166 alpha-2. */
  country?: string;
  depositTotal?: number;
  kycVerified?: boolean;
  selfExcluded?: boolean;
}

/**
 * Reads a profile from untrusted JSON, keeping only fields of the expected type: a field of the wrong type counts as
 * missing, so that it fails its checks instead of passing them by accident. Undefined when there is no customer id.
 */
export function toProfile(value: unknown): Profile | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  const customerId = raw.customerId;
  if (typeof customerId !== 'string' && typeof customerId !== 'number') {
    return undefined;
  }
  const profile: Profile = { customerId: String(customerId) };
  if (typeof raw.accountStatus === 'string') {
    profile.accountStatus = raw.accountStatus;
  }
  if (typeof raw.country === 'string') {
    profile.country = raw.country;
  }
  if (typeof raw.depositTotal === 'number' && Number.isFinite(raw.depositTotal)) {
    profile.depositTotal = raw.depositTotal;
  }
  if (typeof raw.kycVerified === 'boolean') {
    profile.kycVerified = raw.kycVerified;
  }
  if (typeof raw.selfExcluded === 'boolean') {
    profile.selfExcluded = raw.selfExcluded;
  }

  return profile;
}
