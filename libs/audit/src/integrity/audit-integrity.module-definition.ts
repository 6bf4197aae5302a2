import { ConfigurableModuleBuilder } from '@nestjs/common';
import { AuditIntegrityOptions } from './audit-integrity.options';

export const {
  ConfigurableModuleClass: ConfigurableAuditIntegrityModule,
  MODULE_OPTIONS_TOKEN: AUDIT_INTEGRITY_OPTIONS,
} = new ConfigurableModuleBuilder<AuditIntegrityOptions>().setClassMethodName('forRoot').build();
