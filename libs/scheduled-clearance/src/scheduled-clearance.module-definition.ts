import { ConfigurableModuleBuilder } from '@nestjs/common';
import { ScheduledClearanceOptions } from './scheduled-clearance.options';

export const {
  ConfigurableModuleClass: ConfigurableScheduledClearanceModule,
  MODULE_OPTIONS_TOKEN: SCHEDULED_CLEARANCE_OPTIONS,
} = new ConfigurableModuleBuilder<ScheduledClearanceOptions>().setClassMethodName('forRoot').build();
