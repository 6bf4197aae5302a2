export { CoalescingProfileSource } from './coalescing-profile-source';
export type { CoalescingProfileSourceOptions } from './coalescing-profile-source';
export { ComplianceModule } from './compliance.module';
export type { ComplianceModuleOptions } from './compliance.options';
export { compileComplianceRules, evaluateCompliance, evaluateVisitor } from './compliance-rules';
export type {
  CompiledComplianceRules,
  ComplianceReasonCode,
  ComplianceRules,
  ComplianceViolation,
} from './compliance-rules';
export { HttpProfileSourceAdapter } from './http-profile-source.adapter';
export type { HttpProfileSourceOptions } from './http-profile-source.adapter';
export { toProfile } from './profile';
export type { Profile } from './profile';
export { PROFILE_BATCH_LIMIT, ProfileSourceError, ProfileSourcePort } from './profile-source.port';
export type { ProfileLookupOptions } from './profile-source.port';
