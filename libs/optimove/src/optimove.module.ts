import { Module } from '@nestjs/common';
import { OptimoveClient } from './optimove.client';
import { ConfigurableOptimoveModule, OPTIMOVE_MODULE_OPTIONS } from './optimove.module-definition';
import { OptimoveModuleOptions } from './optimove.options';

/**
 * Provides {@link OptimoveClient}, built from typed options the app maps from its configuration:
 * `OptimoveModule.forRootAsync({ inject: [...], useFactory: (...) => ({ apiUrl, apiKey, timeZone, registry }) })`.
 * The client's connection pools close on application shutdown.
 */
@Module({
  providers: [
    {
      provide: OptimoveClient,
      inject: [OPTIMOVE_MODULE_OPTIONS],
      useFactory: (options: OptimoveModuleOptions) => new OptimoveClient(options),
    },
  ],
  exports: [OptimoveClient],
})
export class OptimoveModule extends ConfigurableOptimoveModule {}
