import { Module } from '@nestjs/common';
import { COMPLIANCE_MODULE_OPTIONS, ConfigurableComplianceModule } from './compliance.module-definition';
import { ComplianceModuleOptions } from './compliance.options';
import { HttpProfileSourceAdapter } from './http-profile-source.adapter';
import { ProfileSourcePort } from './profile-source.port';

/**
 * Provides `ProfileSourcePort`: the HTTP adapter when a profile source is configured, otherwise null (inject it with
 * `@Optional()`). Nest closes the adapter's connections on shutdown.
 */
@Module({
  providers: [
    {
      provide: ProfileSourcePort,
      inject: [COMPLIANCE_MODULE_OPTIONS],
      useFactory: (options: ComplianceModuleOptions): ProfileSourcePort | null =>
        options.profileSource ? new HttpProfileSourceAdapter(options.profileSource) : null,
    },
  ],
  exports: [ProfileSourcePort],
})
export class ComplianceModule extends ConfigurableComplianceModule {}
