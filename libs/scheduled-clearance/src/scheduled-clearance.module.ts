import { ProfileSourcePort } from '@app/compliance';
import { DecisionEngine, DecisionRecorderPort, PolicySet } from '@app/decisions';
import { PromoActivationPort, RecordingPromoActivationAdapter } from '@app/promo-activation';
import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { ClearanceAdminController, ClearanceListenerController } from './clearance.controllers';
import { ClearanceRepository } from './clearance.repository';
import { ClearanceIntake } from './clearance-intake.service';
import { CLEARANCE_ENGINE, ClearanceWorker } from './clearance-worker.service';
import {
  ConfigurableScheduledClearanceModule,
  SCHEDULED_CLEARANCE_OPTIONS,
} from './scheduled-clearance.module-definition';
import { ScheduledClearanceOptions } from './scheduled-clearance.options';

/** Every clearance call passes its slice's recorder; a call without one is a bug, refused rather than recorded. */
const SLICES_RECORD_THEMSELVES: DecisionRecorderPort = {
  record: () => Promise.reject(new Error('clearance decisions are recorded by their slice, under its lease')),
};

/**
 * The clearance's own engine: the same policies and profile source, and the promo system without the per-call
 * activation ledger. A slice records its activations in the ledger in one statement, in the transaction that commits
 * its decisions; the idempotency key makes a re-run after a crash replay, never activate twice.
 */
function createClearanceEngine(
  policies: PolicySet,
  profiles: ProfileSourcePort | null | undefined,
  promos: PromoActivationPort | null | undefined,
  options: ScheduledClearanceOptions,
  registry?: Registry,
): DecisionEngine {
  const unrecorded = promos instanceof RecordingPromoActivationAdapter ? promos.inner : promos;

  return new DecisionEngine(policies, SLICES_RECORD_THEMSELVES, profiles ?? null, unrecorded ?? null, {
    promoConcurrency: options.promoConcurrency,
    registry,
  });
}

/**
 * The scheduled flow: the event listener, the admin endpoint, and this replica's clearance workers. Needs the
 * global `DataSource`, `PolicySet`, `DecisionRecorderPort`, `Registry`, the audit API's access guard, the profile
 * and promo ports when configured and, to fetch and report, the `OptimoveClient`.
 */
@Module({
  controllers: [ClearanceListenerController, ClearanceAdminController],
  providers: [
    ClearanceRepository,
    ClearanceWorker,
    ClearanceIntake,
    {
      provide: CLEARANCE_ENGINE,
      inject: [
        PolicySet,
        { token: ProfileSourcePort, optional: true },
        { token: PromoActivationPort, optional: true },
        SCHEDULED_CLEARANCE_OPTIONS,
        { token: Registry, optional: true },
      ],
      useFactory: createClearanceEngine,
    },
  ],
  exports: [ClearanceIntake],
})
export class ScheduledClearanceModule extends ConfigurableScheduledClearanceModule {}
