import { ConfigurableModuleBuilder } from '@nestjs/common';
import { AuditModuleOptions } from './audit.options';

export const { ConfigurableModuleClass: ConfigurableAuditModule, MODULE_OPTIONS_TOKEN: AUDIT_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<AuditModuleOptions>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
