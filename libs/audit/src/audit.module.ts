import { DecisionRecorderPort } from '@app/decisions';
import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { AUDIT_MODULE_OPTIONS, ConfigurableAuditModule } from './audit.module-definition';
import { AuditModuleOptions } from './audit.options';
import { AuditWriter } from './audit-writer.service';

/**
 * Provides the group-committing `AuditWriter`, also as the decisions engine's `DecisionRecorderPort`. Needs the
 * global `DataSource`. Keep it non-global: its shutdown hook then runs before the database module closes the pool.
 */
@Module({
  providers: [
    {
      provide: AuditWriter,
      inject: [DataSource, AUDIT_MODULE_OPTIONS, { token: Registry, optional: true }],
      useFactory: (dataSource: DataSource, options: AuditModuleOptions, registry?: Registry) =>
        new AuditWriter(dataSource, { registry, ...options.writer }),
    },
    { provide: DecisionRecorderPort, useExisting: AuditWriter },
  ],
  exports: [AuditWriter, DecisionRecorderPort],
})
export class AuditModule extends ConfigurableAuditModule {}
