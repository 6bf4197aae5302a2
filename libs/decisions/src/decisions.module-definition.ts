import { ConfigurableModuleBuilder } from '@nestjs/common';
import { DecisionsModuleOptions } from './decisions.options';

export const { ConfigurableModuleClass: ConfigurableDecisionsModule, MODULE_OPTIONS_TOKEN: DECISIONS_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<DecisionsModuleOptions>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
