import { ConfigurableModuleBuilder } from '@nestjs/common';
import { TriggeredGatewayModuleOptions } from './triggered-gateway.options';

export const {
  ConfigurableModuleClass: ConfigurableTriggeredGatewayModule,
  MODULE_OPTIONS_TOKEN: TRIGGERED_GATEWAY_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<TriggeredGatewayModuleOptions>().setClassMethodName('forRoot').build();
