import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { COMPLIANCE_MODULE_OPTIONS, ConfigurableComplianceModule } from './compliance.module-definition';
import { ComplianceModuleOptions } from './compliance.options';
import { HttpProfileSourceAdapter } from './http-profile-source.adapter';
import { MeteredProfileSourceAdapter } from './metered-profile-source.adapter';
import { ProfileSourcePort } from './profile-source.port';

/**
 * Provides `ProfileSourcePort`: the HTTP adapter when a profile source is configured, otherwise null (inject it with
 * `@Optional()`). Nest closes the adapter's connections on shutdown.
 */
@Module({
  providers: [
    {
      provide: ProfileSourcePort,
      inject: [COMPLIANCE_MODULE_OPTIONS, { token: Registry, optional: true }],
      useFactory: (options: ComplianceModuleOptions, registry?: Registry): ProfileSourcePort | null => {
        if (!options.profileSource) {
          return null;
        }
        const http = new HttpProfileSourceAdapter(options.profileSource);

        return registry ? new MeteredProfileSourceAdapter(http, registry) : http;
      },
    },
  ],
  exports: [ProfileSourcePort],
})
export class ComplianceModule extends ConfigurableComplianceModule {}
