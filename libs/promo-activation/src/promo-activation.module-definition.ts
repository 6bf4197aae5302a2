import { ConfigurableModuleBuilder } from '@nestjs/common';
import { PromoActivationModuleOptions } from './promo-activation.options';

export const {
  ConfigurableModuleClass: ConfigurablePromoActivationModule,
  MODULE_OPTIONS_TOKEN: PROMO_ACTIVATION_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<PromoActivationModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
