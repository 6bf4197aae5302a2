export { AuditModule } from './audit.module';
export type { AuditModuleOptions } from './audit.options';
export { AuditWriter, AuditWriterClosedError } from './audit-writer.service';
export type { AuditWriterOptions, AuditWriterStats } from './audit-writer.service';
export { insertDecisions } from './decision-insert';
export type { Queryable } from './decision-insert';
export * from './api';
export * from './integrity';
