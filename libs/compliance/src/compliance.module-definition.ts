import { ConfigurableModuleBuilder } from '@nestjs/common';
import { ComplianceModuleOptions } from './compliance.options';

export const {
  ConfigurableModuleClass: ConfigurableComplianceModule,
  MODULE_OPTIONS_TOKEN: COMPLIANCE_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<ComplianceModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
