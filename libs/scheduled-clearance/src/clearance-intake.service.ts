import { Inject, Injectable, Logger } from '@nestjs/common';
import { ClearanceOutcome, ClearanceRepository } from './clearance.repository';
import { ClearanceWorker } from './clearance-worker.service';
import { CLEARANCE_EVENT_TYPE, MalformedNotificationError, parseEventNotification } from './event-notification';
import { SCHEDULED_CLEARANCE_OPTIONS } from './scheduled-clearance.module-definition';
import { ScheduledClearanceOptions } from './scheduled-clearance.options';

const DEFAULT_REPORT_RESERVE_MS = 15_000;

export interface IntakeResult {
  clearanceId: string | null;
  outcome: ClearanceOutcome | 'ignored';
}

/**
 * Turns a notification (or an operator's request) into a committed clearance: deduplicated on campaign and
 * deadline, expired at once when its deadline leaves no time, and handed to the workers.
 */
@Injectable()
export class ClearanceIntake {
  private readonly logger = new Logger(ClearanceIntake.name);

  constructor(
    private readonly repository: ClearanceRepository,
    private readonly worker: ClearanceWorker,
    @Inject(SCHEDULED_CLEARANCE_OPTIONS) private readonly options: ScheduledClearanceOptions,
  ) {}

  async receiveNotification(body: unknown): Promise<IntakeResult> {
    let notification;
    try {
      notification = parseEventNotification(body, this.options.timeZone);
    } catch (error) {
      if (error instanceof MalformedNotificationError) {
        await this.repository
          .recordNotification({
            eventTypeId: null,
            campaignId: null,
            optimoveTimestamp: null,
            clearanceRequiredBy: null,
            outcome: 'rejected',
            clearanceId: null,
            payload: { error: error.message },
          })
          .catch(() => undefined);
      }
      throw error;
    }
    const { eventTypeId, campaignId, clearanceRequiredBy, optimoveTimestamp, recorded } = notification;
    const record = { eventTypeId, campaignId, optimoveTimestamp, clearanceRequiredBy, payload: recorded };
    if (eventTypeId !== CLEARANCE_EVENT_TYPE || !campaignId || !clearanceRequiredBy) {
      await this.repository.recordNotification({ ...record, outcome: 'ignored', clearanceId: null });

      return { clearanceId: null, outcome: 'ignored' };
    }

    return this.open(campaignId, clearanceRequiredBy, 'optimove', record);
  }

  requestClearance(campaignId: string, clearanceRequiredBy: Date): Promise<IntakeResult> {
    return this.open(campaignId, clearanceRequiredBy, 'admin', {
      eventTypeId: null,
      campaignId,
      optimoveTimestamp: null,
      clearanceRequiredBy,
      payload: { requestedBy: 'admin' },
    });
  }

  private async open(
    campaignId: string,
    clearanceRequiredBy: Date,
    source: 'optimove' | 'admin',
    notification: Parameters<ClearanceRepository['openClearance']>[1],
  ): Promise<IntakeResult> {
    const reportBy = new Date(clearanceRequiredBy.getTime() - this.options.safetyMarginMs);
    const decideBy = new Date(reportBy.getTime() - (this.options.reportReserveMs ?? DEFAULT_REPORT_RESERVE_MS));
    const { clearanceId, outcome } = await this.repository.openClearance(
      { campaignId, clearanceRequiredBy, reportBy, decideBy, source },
      notification,
    );
    if (outcome === 'clearance_created') {
      this.logger.log({ clearanceId, campaignId, clearanceRequiredBy, source }, 'clearance opened');
      this.worker.wake();
    } else if (outcome === 'expired') {
      this.logger.warn({ clearanceId, campaignId, clearanceRequiredBy }, 'clearance expired on arrival: no time left');
    }

    return { clearanceId, outcome };
  }
}
