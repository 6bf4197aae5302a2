import { Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Prometheus registry for the process, injected wherever a metric is defined. Tests get their own registry per
 * application, so metrics never leak between test cases.
 */
@Global()
@Module({
  providers: [
    {
      provide: Registry,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });

        return registry;
      },
    },
  ],
  exports: [Registry],
})
export class MetricsModule {}
