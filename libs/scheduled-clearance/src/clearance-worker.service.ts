import { Decision, DecisionEngine, DecisionRecorderPort } from '@app/decisions';
import { counter, describeError, gauge } from '@app/observability';
import { OptimoveClient } from '@app/optimove';
import { activationIdempotencyKey, PromoActivationPort, RecordingPromoActivationAdapter } from '@app/promo-activation';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Registry } from 'prom-client';
import { ClearanceRepository, FetchLease, LeaseLostError, ReportBatch, SliceLease } from './clearance.repository';
import { SCHEDULED_CLEARANCE_OPTIONS } from './scheduled-clearance.module-definition';
import { ScheduledClearanceOptions } from './scheduled-clearance.options';

const OPTIMOVE_MAX_PER_CALL = 10_000;
const REPORT_LEASE_MS = 20_000;
const REPORT_RETRY_MS = 2_000;
const FETCH_RETRY_MS = 2_000;
const MAINTENANCE_INTERVAL_MS = 1_000;
const SHUTDOWN_WAIT_MS = 10_000;
/** Pauses between attempts to commit or release a slice while the database is unreachable. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 2_000;
const CANCELLATIONS_PER_TICK = 200;
const CANCELLATION_TIMEOUT_MS = 5_000;

/** Injection token of the clearance's own decision engine (see the module). */
export const CLEARANCE_ENGINE = Symbol('CLEARANCE_ENGINE');
/** The engine stops this long before the cut-off, so that its decisions commit before the cut-off fences slices. */
const COMMIT_HEADROOM_MS = 1_500;

/**
 * The scheduled flow's workers, one set per replica, sharing the work through PostgreSQL:
 * - a fetcher streams a clearance's target group from Optimove into its customer rows, under the fetch lease;
 * - slice workers claim slices of customers under lease and decide them through the engine, committing the
 *   decisions and the slice's progress in one transaction that checks the lease's fencing token;
 * - a reporter sends approvals to Optimove in calls of at most 10,000, as they accumulate;
 * - maintenance, run by one replica at a time under an advisory lock, denies what is undecided at the cut-off and
 *   closes finished clearances.
 */
@Injectable()
export class ClearanceWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ClearanceWorker.name);
  private readonly workerId: string;
  private readonly sliceSize: number;
  private readonly leaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly reportMaxAgeMs: number;
  private readonly loops: Promise<void>[] = [];
  private readonly slicesInFlight = new Map<SliceLease, AbortController>();
  private readonly decided: Counter<'outcome'>;
  private readonly reports: Counter<'outcome'>;
  private readonly sleepers = new Set<() => void>();
  private readonly promos: PromoActivationPort | null;
  private stopping = false;

  constructor(
    private readonly repository: ClearanceRepository,
    @Inject(CLEARANCE_ENGINE) private readonly engine: DecisionEngine,
    @Inject(SCHEDULED_CLEARANCE_OPTIONS) private readonly options: ScheduledClearanceOptions,
    registry: Registry,
    @Optional() private readonly optimove?: OptimoveClient,
    @Optional() promoActivation?: PromoActivationPort,
  ) {
    this.promos =
      promoActivation instanceof RecordingPromoActivationAdapter ? promoActivation.inner : (promoActivation ?? null);
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    // A slice's approvals travel in one report, so a slice holds no more customers than one call may carry.
    this.sliceSize = Math.min(options.sliceSize ?? 1_000, OPTIMOVE_MAX_PER_CALL);
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.reportMaxAgeMs = options.reportMaxAgeMs ?? 5_000;
    this.decided = counter(registry, {
      name: 'clearance_customers_decided_total',
      help: 'Customers of scheduled clearances decided by this replica, by outcome',
      labelNames: ['outcome'],
    });
    this.reports = counter(registry, {
      name: 'clearance_reports_total',
      help: 'UpdateCustomerPromotionStatus calls made for clearances, by outcome',
      labelNames: ['outcome'],
    });
    this.registerProgressGauge(registry);
  }

  onApplicationBootstrap(): void {
    if (this.options.workersEnabled === false) {
      return;
    }
    this.loops.push(this.loop('fetch', () => this.fetchNext()));
    for (let i = 0; i < (this.options.sliceConcurrency ?? 4); i++) {
      this.loops.push(this.loop('decide', () => this.decideNextSlice()));
    }
    this.loops.push(this.loop('report', () => this.reportNext()));
    this.loops.push(this.loop('maintenance', () => this.maintain(), MAINTENANCE_INTERVAL_MS));
  }

  /** Stops claiming work, lets slices in flight finish for a while, then hands the rest back to other replicas. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake();
    const finished = Promise.all(this.loops);
    // The wait is cleared once the loops finish: a pending timer would hold the process open for the rest of it.
    let expiry: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => (expiry = setTimeout(() => resolve(false), SHUTDOWN_WAIT_MS)));
    let inTime: boolean;
    try {
      inTime = await Promise.race([finished.then(() => true), expired]);
    } finally {
      clearTimeout(expiry);
    }
    if (!inTime) {
      for (const [slice, controller] of this.slicesInFlight) {
        controller.abort(new LeaseLostError(`slice ${slice.sliceNo} handed back at shutdown`));
        await this.repository.releaseSlice(slice, this.workerId).catch(() => undefined);
      }
      await finished;
    }
  }

  /** New work arrived (a notification): look for it now rather than at the next poll. */
  wake(): void {
    for (const wakeUp of [...this.sleepers]) {
      wakeUp();
    }
  }

  private async loop(name: string, step: () => Promise<boolean>, idleMs = this.pollIntervalMs): Promise<void> {
    while (!this.stopping) {
      let busy = false;
      try {
        busy = await step();
      } catch (error) {
        this.logger.warn(`${name} step failed: ${describeError(error)}`);
      }
      if (!busy && !this.stopping) {
        await this.idle(idleMs);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wakeUp = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wakeUp);
        resolve();
      };
      const timer = setTimeout(wakeUp, ms);
      this.sleepers.add(wakeUp);
    });
  }

  private async fetchNext(): Promise<boolean> {
    const lease = await this.repository.claimFetch(this.workerId, this.leaseMs);
    if (!lease) {
      return false;
    }
    if (!this.optimove) {
      await this.repository.failClearance(lease.clearanceId, 'the Optimove API is not configured');
      this.logger.error(`clearance ${lease.clearanceId} failed: OPTIMOVE_API_URL and OPTIMOVE_API_KEY are not set`);

      return true;
    }
    try {
      await this.fetch(lease, this.optimove);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.logger.warn(error.message);
      } else {
        this.logger.warn(`fetching clearance ${lease.clearanceId} failed, to be resumed: ${describeError(error)}`);
        await sleep(FETCH_RETRY_MS);
        await this.repository.releaseFetch(lease, this.workerId);
      }
    }

    return true;
  }

  private async fetch(lease: FetchLease, optimove: OptimoveClient): Promise<void> {
    const signal = AbortSignal.timeout(Math.max(0, lease.decideBy.getTime() - Date.now()));
    const pages = optimove.streamProcessedCampaignCustomers(lease.campaignId, {
      startOffset: lease.fetchOffset,
      signal,
    });
    for await (const page of pages) {
      const customers = page.customers.map((customer) => ({
        customerId: customer.customerId,
        actionId: customer.actionId === undefined ? null : String(customer.actionId),
        promoCode: customer.promoCode ?? null,
      }));
      const { unstorable } = await this.repository.storePage(
        lease,
        this.workerId,
        { customers, nextOffset: page.nextOffset, last: page.last },
        this.sliceSize,
        this.leaseMs,
      );
      if (unstorable > 0) {
        this.logger.warn(
          `clearance ${lease.clearanceId}: ${unstorable} customer(s) left out, never approved: ` +
            'their id or promo code holds NUL or half a surrogate pair, which PostgreSQL cannot store',
        );
      }
      this.wake();
      if (page.last || this.stopping) {
        break;
      }
    }
    if (this.stopping) {
      await this.repository.releaseFetch(lease, this.workerId);
    }
  }

  private async decideNextSlice(): Promise<boolean> {
    const slice = await this.repository.claimSlice(this.workerId, this.leaseMs);
    if (!slice) {
      return false;
    }
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    this.slicesInFlight.set(slice, controller);
    const renewal = setInterval(() => {
      void this.repository.renewSlice(slice, this.workerId, this.leaseMs).then(
        (held) => held || controller.abort(new LeaseLostError(`slice ${slice.sliceNo}`)),
        () => undefined,
      );
    }, this.leaseMs / 3);
    try {
      await this.decideSlice(slice, controller.signal);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        throw error;
      }
      this.logger.warn(`slice ${slice.sliceNo} of clearance ${slice.clearanceId} failed: ${describeError(error)}`);
      await this.handBack(slice);
    } finally {
      clearInterval(renewal);
      this.slicesInFlight.delete(slice);
    }

    return true;
  }

  /**
   * Commits a slice's decisions, retrying while the database is unreachable, until the slice's deadline or for at
   * most a lease. A record that fails makes the engine cancel the slice's activations, and the customers' next
   * decision then finds their keys cancelled: without the retries a brief outage would cost them their bonus. The
   * fencing check inside the commit keeps a late retry from writing over a slice that someone else took.
   */
  private async commitSlice(
    slice: SliceLease,
    decisions: readonly Decision[],
    promoCodes: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
  ): Promise<void> {
    const giveUpAt = Math.min(Date.now() + this.leaseMs, slice.decideBy.getTime());
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      if (signal.aborted) {
        throw new LeaseLostError(`slice ${slice.sliceNo} of clearance ${slice.clearanceId}`);
      }
      try {
        await this.repository.commitSlice(slice, this.workerId, decisions, promoCodes);

        return;
      } catch (error) {
        if (error instanceof LeaseLostError || Date.now() + delay > giveUpAt) {
          throw error;
        }
        this.logger.warn(
          `slice ${slice.sliceNo} of clearance ${slice.clearanceId} not committed yet: ${describeError(error)}`,
        );
        await sleep(delay);
      }
    }
  }

  /**
   * Releases a slice this worker could not finish. The usual cause is the database itself, so a failed release is
   * retried until it lands or the lease would have run out anyway: otherwise a brief outage would park the slice for
   * a whole lease, which can cost its customers the cut-off.
   */
  private async handBack(slice: SliceLease): Promise<void> {
    const giveUpAt = Date.now() + this.leaseMs;
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        await this.repository.releaseSlice(slice, this.workerId);

        return;
      } catch (error) {
        if (this.stopping || Date.now() + delay > giveUpAt) {
          throw error;
        }
        await sleep(delay);
      }
    }
  }

  private async decideSlice(slice: SliceLease, signal: AbortSignal): Promise<void> {
    const customers = await this.repository.loadSliceCustomers(slice);
    if (customers.length === 0) {
      await this.repository.commitSlice(slice, this.workerId, [], new Map());

      return;
    }
    const promoCodes = new Map(customers.map((customer) => [customer.customerId, customer.promoCode]));
    const recorder: DecisionRecorderPort = {
      record: async (decisions: readonly Decision[]) => {
        await this.commitSlice(slice, decisions, promoCodes, signal);
      },
    };
    const result = await this.engine.decide({
      flow: 'scheduled',
      campaignId: slice.campaignId,
      occurrence: slice.clearanceId,
      clearanceId: slice.clearanceId,
      customers: customers.map((customer) => ({
        customerId: customer.customerId,
        actionId: customer.actionId,
        promoCodes: customer.promoCode ? [customer.promoCode] : [],
      })),
      deadline: slice.decideBy.getTime() - COMMIT_HEADROOM_MS,
      signal,
      recorder,
    });
    if (!result.recorded) {
      this.logger.warn(`slice ${slice.sliceNo} of clearance ${slice.clearanceId} not committed: ${result.error ?? ''}`);
      await this.handBack(slice);

      return;
    }
    const approved = result.decisions.filter((decision) => decision.allowed).length;
    this.decided.inc({ outcome: 'approved' }, approved);
    this.decided.inc({ outcome: 'denied' }, result.decisions.length - approved);
    this.wake();
  }

  private async reportNext(): Promise<boolean> {
    if (!this.optimove) {
      return false;
    }
    const report =
      (await this.repository.reclaimReport(this.workerId, REPORT_LEASE_MS)) ??
      (await this.repository.openReport(this.workerId, OPTIMOVE_MAX_PER_CALL, this.reportMaxAgeMs, REPORT_LEASE_MS));
    if (!report) {
      return false;
    }
    await this.send(report, this.optimove);

    return true;
  }

  private async send(report: ReportBatch, optimove: OptimoveClient): Promise<void> {
    const timeoutMs = Math.min(REPORT_LEASE_MS - 2_000, report.clearanceRequiredBy.getTime() - Date.now());
    try {
      if (timeoutMs <= 0) {
        throw new Error('ClearanceRequiredBy has passed');
      }
      await optimove.updateCustomerPromotionStatus(
        report.campaignId,
        report.customerIds.map((customerId) => ({ customerId, status: true })),
        { timeoutMs },
      );
      await this.repository.markReportSent(report);
      this.reports.inc({ outcome: 'sent' });
    } catch (error) {
      this.reports.inc({ outcome: 'failed' });
      this.logger.warn(
        `report ${report.reportId} of clearance ${report.clearanceId} (${report.customerIds.length} approvals) ` +
          `failed, to be retried: ${describeError(error)}`,
      );
      await this.repository.markReportFailed(report, describeError(error), REPORT_RETRY_MS);
    }
  }

  private async maintain(): Promise<boolean> {
    await this.repository.runExclusively('scheduled-clearance:maintenance', async () => {
      for (const clearance of await this.repository.clearancesPastCutOff()) {
        const policy = this.engine.policies.select({ campaignId: clearance.campaignId }).name;
        const { denied, withPromo } = await this.repository.cutOff(clearance.id, policy);
        await this.repository.markForCancellation(
          clearance.id,
          clearance.campaignId,
          withPromo.map(({ customerId, promoCode }) => ({
            key: activationIdempotencyKey({
              campaignId: clearance.campaignId,
              occurrence: clearance.id,
              customerId,
              promoCode,
            }),
            customerId,
            promoCode,
          })),
        );
        if (denied > 0) {
          this.logger.warn(`clearance ${clearance.id}: cut-off reached, ${denied} undecided customer(s) denied`);
        }
      }
      await this.cancelStrayActivations();
      const { completed, failed } = await this.repository.closeFinished();
      for (const totals of completed) {
        this.logger.log(
          {
            clearanceId: totals.id,
            campaignId: totals.campaignId,
            total: totals.total,
            approved: totals.approved,
            denied: totals.denied,
            reported: totals.reported,
            deadlineMet: totals.deadlineMet,
            secondsToSpare: Math.round((totals.clearanceRequiredBy.getTime() - totals.finishedAt.getTime()) / 1000),
          },
          'clearance completed',
        );
      }
      for (const totals of failed) {
        this.logger.error(
          {
            clearanceId: totals.id,
            campaignId: totals.campaignId,
            approved: totals.approved,
            reported: totals.reported,
          },
          'clearance failed: approvals were still unreported at ClearanceRequiredBy',
        );
      }
    });

    return false;
  }

  /** Undoes activations of customers who ended up denied (see `markForCancellation`); retried until they land. */
  private async cancelStrayActivations(): Promise<void> {
    const promos = this.promos;
    if (!promos) {
      return;
    }
    const keys = await this.repository.activationsToCancel(CANCELLATIONS_PER_TICK);
    await Promise.all(
      keys.map(async (key: string) => {
        const result = await promos.cancel(key, { deadline: Date.now() + CANCELLATION_TIMEOUT_MS });
        await this.repository.settleCancellation(
          key,
          result.status === 'unavailable' ? 'failed' : 'cancelled',
          result.status === 'unavailable' ? result.error : undefined,
        );
      }),
    );
  }

  private registerProgressGauge(registry: Registry): void {
    const repository = this.repository;
    gauge(registry, {
      name: 'clearance_open',
      help: 'Open clearances: customers by state, and seconds left before the report deadline',
      labelNames: ['clearance_id', 'campaign_id', 'measure'],
      async collect() {
        this.reset();
        for (const progress of await repository.openProgress().catch(() => [])) {
          const labels = { clearance_id: progress.id, campaign_id: progress.campaignId };
          this.set({ ...labels, measure: 'total' }, progress.total);
          this.set({ ...labels, measure: 'approved' }, progress.approved);
          this.set({ ...labels, measure: 'denied' }, progress.denied);
          this.set({ ...labels, measure: 'reported' }, progress.reported);
          this.set({ ...labels, measure: 'seconds_to_report_deadline' }, progress.secondsLeft);
        }
      },
    });
  }
}
