import { ConfigurableModuleBuilder } from '@nestjs/common';
import { AuditApiOptions } from './audit-api.options';

export const { ConfigurableModuleClass: ConfigurableAuditApiModule, MODULE_OPTIONS_TOKEN: AUDIT_API_OPTIONS } =
  new ConfigurableModuleBuilder<AuditApiOptions>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
