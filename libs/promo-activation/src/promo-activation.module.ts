import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { ActivationLedger } from './activation-ledger.repository';
import { HttpPromoActivationAdapter } from './http-promo-activation.adapter';
import { MeteredPromoActivationAdapter } from './metered-promo-activation.adapter';
import {
  ConfigurablePromoActivationModule,
  PROMO_ACTIVATION_MODULE_OPTIONS,
} from './promo-activation.module-definition';
import { PromoActivationModuleOptions } from './promo-activation.options';
import { PromoActivationPort } from './promo-activation.port';
import { RecordingPromoActivationAdapter } from './recording-promo-activation.adapter';

function createPort(
  options: PromoActivationModuleOptions,
  dataSource?: DataSource,
  registry?: Registry,
): PromoActivationPort | null {
  if (!options.promoSystem) {
    return null;
  }
  const adapter = new HttpPromoActivationAdapter(options.promoSystem);
  const http = registry ? new MeteredPromoActivationAdapter(adapter, registry) : adapter;
  if (options.recordActivations === false) {
    return http;
  }
  if (!dataSource) {
    throw new Error('PromoActivationModule records activations and needs a DataSource (import DatabaseModule)');
  }

  return new RecordingPromoActivationAdapter(http, new ActivationLedger(dataSource));
}

/**
 * Provides `PromoActivationPort`: the HTTP adapter wrapped with the activation ledger when a promo system is
 * configured, otherwise null (inject it with `@Optional()`); and `ActivationLedger` when a DataSource exists.
 */
@Module({
  providers: [
    {
      provide: PromoActivationPort,
      inject: [
        PROMO_ACTIVATION_MODULE_OPTIONS,
        { token: DataSource, optional: true },
        { token: Registry, optional: true },
      ],
      useFactory: createPort,
    },
    {
      provide: ActivationLedger,
      inject: [{ token: DataSource, optional: true }],
      useFactory: (dataSource?: DataSource): ActivationLedger | null =>
        dataSource ? new ActivationLedger(dataSource) : null,
    },
  ],
  exports: [PromoActivationPort, ActivationLedger],
})
export class PromoActivationModule extends ConfigurablePromoActivationModule {}
