export { REASON_CODES } from './decision';
export type {
  CheckName,
  CheckOutcome,
  CheckResult,
  Decision,
  DecisionMode,
  Flow,
  Reason,
  ReasonCode,
} from './decision';
export { DecisionEngine } from './decision-engine.service';
export type {
  CustomerToDecide,
  DecisionBatchRequest,
  DecisionBatchResult,
  DecisionEngineOptions,
} from './decision-engine.service';
export { DecisionRecorderPort } from './decision-recorder.port';
export { DecisionsModule } from './decisions.module';
export type { DecisionsModuleOptions } from './decisions.options';
export { createPolicy, DEFAULT_POLICY_DEFINITION, matchesAll, PolicySet } from './policy';
export type { Policy, PolicyContext, PolicyDefinition, PolicyMatch, PromoMode } from './policy';
export { assertPolicyDependencies, PolicyDependencyError } from './policy-dependencies';
export type { ConfiguredAdapters } from './policy-dependencies';
export { loadPolicies, parsePolicyDocument, parsePolicyText, PolicyFileError } from './policy-file';
export type { PolicyFileIssue } from './policy-file';
