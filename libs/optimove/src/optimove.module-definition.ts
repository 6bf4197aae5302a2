import { ConfigurableModuleBuilder } from '@nestjs/common';
import { OptimoveModuleOptions } from './optimove.options';

export const { ConfigurableModuleClass: ConfigurableOptimoveModule, MODULE_OPTIONS_TOKEN: OPTIMOVE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<OptimoveModuleOptions>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
