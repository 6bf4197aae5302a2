import { Module } from '@nestjs/common';
import { AuditAccessGuard } from './audit-access.guard';
import { AUDIT_API_OPTIONS, ConfigurableAuditApiModule } from './audit-api.module-definition';
import { AuditController } from './audit.controller';
import { CampaignSummaryReader } from './campaign-summary';
import { ClearanceReader } from './clearance-reader';
import { DecisionReader } from './decision-reader';

/**
 * The authenticated audit REST API: decisions (filtered pages, one by id, streaming export), clearances with their
 * counts, campaign summaries. Exports the access guard so that operation endpoints elsewhere share its keys.
 */
@Module({
  controllers: [AuditController],
  providers: [AuditAccessGuard, DecisionReader, ClearanceReader, CampaignSummaryReader],
  exports: [AuditAccessGuard, AUDIT_API_OPTIONS],
})
export class AuditApiModule extends ConfigurableAuditApiModule {}
