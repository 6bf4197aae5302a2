import { Module } from '@nestjs/common';
import { AuditIntegrityController } from './audit-integrity.controller';
import { ConfigurableAuditIntegrityModule } from './audit-integrity.module-definition';
import { AuditRetentionScheduler } from './retention.scheduler';

/**
 * `POST /admin/audit/verify` and the daily retention job. Needs the global `DataSource` and a global
 * `AuditApiModule` (its access guard and keys).
 */
@Module({
  controllers: [AuditIntegrityController],
  providers: [AuditRetentionScheduler],
  exports: [AuditRetentionScheduler],
})
export class AuditIntegrityModule extends ConfigurableAuditIntegrityModule {}
