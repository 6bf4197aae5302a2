export { AuditAccessGuard, fingerprint, RequireAdmin } from './audit-access.guard';
export type { AuditPrincipal } from './audit-access.guard';
export { AuditApiModule } from './audit-api.module';
export type { AuditApiOptions, AuditApiRole } from './audit-api.options';
export { DecisionReader } from './decision-reader';
