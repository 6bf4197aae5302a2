import { ComplianceReasonCode } from '@app/compliance';

/** The flow a decision was made for. */
export type Flow = 'scheduled' | 'triggered';

/** `shadow` decides and records as usual but approves everyone and activates nothing. */
export type DecisionMode = 'enforce' | 'shadow';

/**
 * Every reason code a decision may carry; stable, part of the service's contract (add, never rename).
 * `AUDIT_UNAVAILABLE` and `INTERNAL_ERROR` never reach the audit table: they mark answers given when the decision
 * could not be recorded or made. `INVALID_REQUEST` records a gateway request whose body could not be read.
 */
export const REASON_CODES = [
  'COMPLIANCE_ACCOUNT_STATUS',
  'COMPLIANCE_MIN_DEPOSIT',
  'COMPLIANCE_COUNTRY',
  'COMPLIANCE_KYC',
  'COMPLIANCE_SELF_EXCLUDED',
  'PROFILE_NOT_FOUND',
  'PROFILE_UNAVAILABLE',
  'PROMO_REJECTED',
  'PROMO_UNAVAILABLE',
  'VISITOR',
  'TIMEOUT',
  'DEADLINE_EXCEEDED',
  'AUDIT_UNAVAILABLE',
  'INTERNAL_ERROR',
  'INVALID_REQUEST',
] as const satisfies readonly string[];

export type ReasonCode = (typeof REASON_CODES)[number];

// Fails to compile if compliance ever yields a code that is not listed above.
const _complianceCodesAreReasonCodes: ComplianceReasonCode extends ReasonCode ? true : never = true;
void _complianceCodesAreReasonCodes;

export interface Reason {
  code: ReasonCode;
  message: string;
}

export type CheckName = 'visitor' | 'profile' | 'compliance' | 'promo' | 'engine';

export type CheckResult = 'pass' | 'fail' | 'error' | 'timeout' | 'skipped';

/** One check of a decision: what ran, how it ended, how long it took. */
export interface CheckOutcome {
  name: CheckName;
  outcome: CheckResult;
  durationMs: number;
  /** Reason codes this check produced. */
  codes?: ReasonCode[];
  detail?: string;
  /** Promo checks: the idempotency keys used, so that an activation can be traced and cancelled. */
  idempotencyKeys?: string[];
}

/** The allowed/denied outcome for one customer, as recorded by the audit and served by the audit API. */
export interface Decision {
  id: string;
  flow: Flow;
  campaignId: string | null;
  actionId: string | null;
  seriesId: string | null;
  clearanceId: string | null;
  customerId: string;
  isVisitor: boolean;
  allowed: boolean;
  mode: DecisionMode;
  policy: string;
  reasons: Reason[];
  checks: CheckOutcome[];
  /** ISO 8601. */
  decidedAt: string;
  latencyMs: number;
  /** When the approval was reported to Optimove; always null from the engine. */
  reportedAt: string | null;
}
