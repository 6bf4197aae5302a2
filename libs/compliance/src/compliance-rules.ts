import { Profile } from './profile';

/** Reason codes the compliance rules yield; stable, part of the service's contract. */
export type ComplianceReasonCode =
  | 'COMPLIANCE_ACCOUNT_STATUS'
  | 'COMPLIANCE_MIN_DEPOSIT'
  | 'COMPLIANCE_COUNTRY'
  | 'COMPLIANCE_KYC'
  | 'COMPLIANCE_SELF_EXCLUDED'
  | 'VISITOR';

/** One failed rule: its reason code and a short message for the audit record. */
export interface ComplianceViolation {
  code: ComplianceReasonCode;
  message: string;
}

/** The compliance part of a policy, as written in the policy file. */
export interface ComplianceRules {
  /** Allowed account statuses (case-insensitive); empty means no account-status rule. */
  accountStatuses: readonly string[];
  /** Smallest deposit total allowed; null or 0 means no rule. */
  minDepositTotal: number | null;
  /** When not empty, only these countries (ISO 3166 alpha-2, case-insensitive) pass. */
  allowedCountries: readonly string[];
  /** Countries that never pass. */
  blockedCountries: readonly string[];
  requireKyc: boolean;
  denySelfExcluded: boolean;
}

/** {@link ComplianceRules} prepared for fast evaluation: sets instead of arrays, rules that are off dropped. */
export interface CompiledComplianceRules {
  readonly accountStatuses: ReadonlySet<string> | null;
  readonly minDepositTotal: number | null;
  readonly allowedCountries: ReadonlySet<string> | null;
  readonly blockedCountries: ReadonlySet<string> | null;
  readonly requireKyc: boolean;
  readonly denySelfExcluded: boolean;
  /** False when every rule is off: no profile is needed then. */
  readonly needsProfile: boolean;
}

const NO_VIOLATIONS: readonly ComplianceViolation[] = Object.freeze([]);

const ACCOUNT_STATUS_MISSING: ComplianceViolation = violation('COMPLIANCE_ACCOUNT_STATUS', 'account status is missing');
const ACCOUNT_STATUS_NOT_ALLOWED: ComplianceViolation = violation(
  'COMPLIANCE_ACCOUNT_STATUS',
  'account status is not one of the allowed statuses',
);
const DEPOSIT_MISSING: ComplianceViolation = violation('COMPLIANCE_MIN_DEPOSIT', 'deposit total is missing');
const DEPOSIT_TOO_LOW: ComplianceViolation = violation(
  'COMPLIANCE_MIN_DEPOSIT',
  'deposit total is below the policy minimum',
);
const COUNTRY_MISSING: ComplianceViolation = violation('COMPLIANCE_COUNTRY', 'country is missing');
const COUNTRY_NOT_ALLOWED: ComplianceViolation = violation(
  'COMPLIANCE_COUNTRY',
  'country is not in the allowed countries',
);
const COUNTRY_BLOCKED: ComplianceViolation = violation('COMPLIANCE_COUNTRY', 'country is blocked');
const KYC_MISSING: ComplianceViolation = violation('COMPLIANCE_KYC', 'KYC status is missing');
const KYC_NOT_VERIFIED: ComplianceViolation = violation('COMPLIANCE_KYC', 'KYC is not verified');
const SELF_EXCLUSION_MISSING: ComplianceViolation = violation(
  'COMPLIANCE_SELF_EXCLUDED',
  'self-exclusion status is missing',
);
const SELF_EXCLUDED: ComplianceViolation = violation('COMPLIANCE_SELF_EXCLUDED', 'customer is self-excluded');
const VISITOR_DENIED: ComplianceViolation = violation('VISITOR', 'visitors are not allowed by the policy');

function violation(code: ComplianceReasonCode, message: string): ComplianceViolation {
  return Object.freeze({ code, message });
}

function upperSet(values: readonly string[]): ReadonlySet<string> | null {
  return values.length === 0 ? null : new Set(values.map((value) => value.toUpperCase()));
}

/** Prepares rules once per policy, so that evaluating a customer allocates nothing when the customer passes. */
export function compileComplianceRules(rules: ComplianceRules): CompiledComplianceRules {
  const accountStatuses =
    rules.accountStatuses.length === 0 ? null : new Set(rules.accountStatuses.map((status) => status.toLowerCase()));
  const minDepositTotal = rules.minDepositTotal !== null && rules.minDepositTotal > 0 ? rules.minDepositTotal : null;
  const allowedCountries = upperSet(rules.allowedCountries);
  const blockedCountries = upperSet(rules.blockedCountries);
  const needsProfile =
    accountStatuses !== null ||
    minDepositTotal !== null ||
    allowedCountries !== null ||
    blockedCountries !== null ||
    rules.requireKyc ||
    rules.denySelfExcluded;

  return {
    accountStatuses,
    minDepositTotal,
    allowedCountries,
    blockedCountries,
    requireKyc: rules.requireKyc,
    denySelfExcluded: rules.denySelfExcluded,
    needsProfile,
  };
}

/**
 * Applies every rule that is on to one profile and returns the failed ones, in a fixed order; an empty array means
 * the customer passes. Pure and allocation-free on the passing path.
 */
export function evaluateCompliance(profile: Profile, rules: CompiledComplianceRules): readonly ComplianceViolation[] {
  let violations: ComplianceViolation[] | undefined;
  const add = (found: ComplianceViolation): void => {
    (violations ??= []).push(found);
  };

  if (rules.accountStatuses !== null) {
    if (profile.accountStatus === undefined) {
      add(ACCOUNT_STATUS_MISSING);
    } else if (!rules.accountStatuses.has(profile.accountStatus.toLowerCase())) {
      add(ACCOUNT_STATUS_NOT_ALLOWED);
    }
  }
  if (rules.minDepositTotal !== null) {
    if (profile.depositTotal === undefined) {
      add(DEPOSIT_MISSING);
    } else if (profile.depositTotal < rules.minDepositTotal) {
      add(DEPOSIT_TOO_LOW);
    }
  }
  if (rules.allowedCountries !== null || rules.blockedCountries !== null) {
    const country = profile.country?.toUpperCase();
    if (country === undefined) {
      add(COUNTRY_MISSING);
    } else if (rules.allowedCountries !== null && !rules.allowedCountries.has(country)) {
      add(COUNTRY_NOT_ALLOWED);
    } else if (rules.blockedCountries !== null && rules.blockedCountries.has(country)) {
      add(COUNTRY_BLOCKED);
    }
  }
  if (rules.requireKyc) {
    if (profile.kycVerified === undefined) {
      add(KYC_MISSING);
    } else if (!profile.kycVerified) {
      add(KYC_NOT_VERIFIED);
    }
  }
  if (rules.denySelfExcluded) {
    if (profile.selfExcluded === undefined) {
      add(SELF_EXCLUSION_MISSING);
    } else if (profile.selfExcluded) {
      add(SELF_EXCLUDED);
    }
  }

  return violations ?? NO_VIOLATIONS;
}

/** The visitor rule: a visitor (no account) passes only when the policy allows visitors. */
export function evaluateVisitor(isVisitor: boolean, allowVisitors: boolean): ComplianceViolation | null {
  return isVisitor && !allowVisitors ? VISITOR_DENIED : null;
}
