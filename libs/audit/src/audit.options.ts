import { AuditWriterOptions } from './audit-writer.service';

/** Options of {@link AuditModule}. */
export interface AuditModuleOptions {
  writer?: AuditWriterOptions;
}
