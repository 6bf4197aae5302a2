import { hash32, seededRandom } from '../common/hash.util';

/** A customer profile as the contract describes it; any field may be missing. */
export interface Profile {
  customerId: string;
  accountStatus?: string;
  country?: string;
  depositTotal?: number;
  kycVerified?: boolean;
  selfExcluded?: boolean;
}

/** Which single rule a generated profile fails, or 'pass' for one that passes every rule. */
export type ProfileOutcome =
  | 'pass'
  | 'account_status'
  | 'low_deposit'
  | 'blocked_country'
  | 'kyc'
  | 'self_excluded'
  | 'missing_field'
  | 'not_found';

/**
 * Share of customers per outcome. Each failing profile breaks exactly one rule (with everything else clean),
 * so a test can tell the reasons apart. Cumulative order matters: it decides which customer gets which.
 */
export const PROFILE_DISTRIBUTION: ReadonlyArray<readonly [ProfileOutcome, number]> = [
  ['not_found', 0.04],
  ['account_status', 0.03],
  ['low_deposit', 0.03],
  ['blocked_country', 0.03],
  ['kyc', 0.03],
  ['self_excluded', 0.03],
  ['missing_field', 0.03],
  ['pass', 0.78],
];

export const BLOCKED_COUNTRIES = ['US'];
/** Deposits of passing profiles are at least this; 'low_deposit' ones are below it. */
export const MIN_DEPOSIT = 100;
const COUNTRIES = ['GB', 'IE', 'DE', 'NL', 'SE', 'FI', 'CA', 'MT', 'ES', 'NZ'];
const BAD_STATUSES = ['suspended', 'closed', 'dormant'];
const OPTIONAL_FIELDS = ['accountStatus', 'country', 'depositTotal', 'kycVerified', 'selfExcluded'] as const;

export interface GeneratedProfile {
  outcome: ProfileOutcome;
  /** Absent for 'not_found'. */
  profile?: Profile;
  /** For 'missing_field': the field left out. */
  missingField?: (typeof OPTIONAL_FIELDS)[number];
}

function outcomeFor(draw: number): ProfileOutcome {
  let cumulative = 0;
  for (const [outcome, share] of PROFILE_DISTRIBUTION) {
    cumulative += share;
    if (draw < cumulative) {
      return outcome;
    }
  }

  return 'pass';
}

/** The profile of a customer, a pure function of (seed, customerId). */
export function generateProfile(seed: number, customerId: string): GeneratedProfile {
  const random = seededRandom(hash32(customerId, seed));
  const outcome = outcomeFor(random());
  if (outcome === 'not_found') {
    return { outcome };
  }
  const profile: Profile = {
    customerId,
    accountStatus: 'active',
    country: COUNTRIES[Math.floor(random() * COUNTRIES.length)],
    depositTotal: Math.round((MIN_DEPOSIT + random() * 20_000) * 100) / 100,
    kycVerified: true,
    selfExcluded: false,
  };
  switch (outcome) {
    case 'account_status':
      profile.accountStatus = BAD_STATUSES[Math.floor(random() * BAD_STATUSES.length)];
      break;
    case 'low_deposit':
      profile.depositTotal = Math.floor(random() * MIN_DEPOSIT * 100) / 100;
      break;
    case 'blocked_country':
      profile.country = BLOCKED_COUNTRIES[Math.floor(random() * BLOCKED_COUNTRIES.length)];
      break;
    case 'kyc':
      profile.kycVerified = false;
      break;
    case 'self_excluded':
      profile.selfExcluded = true;
      break;
    case 'missing_field': {
      const missingField = OPTIONAL_FIELDS[Math.floor(random() * OPTIONAL_FIELDS.length)];
      delete profile[missingField];

      return { outcome, profile, missingField };
    }
    case 'pass':
      break;
  }

  return { outcome, profile };
}
