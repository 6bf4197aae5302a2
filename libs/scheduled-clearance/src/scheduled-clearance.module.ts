import { Module } from '@nestjs/common';
import { ClearanceAdminController, ClearanceListenerController } from './clearance.controllers';
import { ClearanceRepository } from './clearance.repository';
import { ClearanceIntake } from './clearance-intake.service';
import { ClearanceWorker } from './clearance-worker.service';
import { ConfigurableScheduledClearanceModule } from './scheduled-clearance.module-definition';

/**
 * The scheduled flow: the event listener, the admin endpoint, and this replica's clearance workers. Needs the
 * global `DataSource`, `DecisionEngine`, `Registry`, the audit API's access guard and, to fetch and report, the
 * `OptimoveClient`.
 */
@Module({
  controllers: [ClearanceListenerController, ClearanceAdminController],
  providers: [ClearanceRepository, ClearanceWorker, ClearanceIntake],
  exports: [ClearanceIntake],
})
export class ScheduledClearanceModule extends ConfigurableScheduledClearanceModule {}
