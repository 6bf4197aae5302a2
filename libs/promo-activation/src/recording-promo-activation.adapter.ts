import { describeError } from '@app/observability';
import { BeforeApplicationShutdown, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ActivationLedger } from './activation-ledger.repository';
import {
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  PromoActivationPort,
  PromoCallOptions,
} from './promo-activation.port';

/**
 * Wraps a promo system adapter with the `promo_activations` ledger. The key is written as pending before the first
 * request, so that an activation which lands after we gave up can always be found and cancelled; a key already
 * activated or finally rejected is answered from the ledger without calling the promo system again. If the ledger
 * cannot be written, nothing is activated (unavailable): an activation we could not find later must not happen.
 * Outcomes are written behind the answer, so `activate` returns as soon as the promo system has answered.
 */
export class RecordingPromoActivationAdapter
  extends PromoActivationPort
  implements BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(RecordingPromoActivationAdapter.name);

  constructor(
    /** The adapter underneath, for callers that record activations themselves, in batches. */
    readonly inner: PromoActivationPort,
    /** The ledger the activations are recorded in; callers may reserve keys in it ahead (`adopt`). */
    readonly ledger: ActivationLedger,
  ) {
    super();
  }

  async activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
    if (options.signal?.aborted || Date.now() >= options.deadline) {
      return { status: 'unavailable', error: 'no time left to start the activation', attempts: 0, ranOutOfTime: true };
    }
    let record;
    try {
      record = await this.ledger.begin(request);
    } catch (error) {
      return {
        status: 'unavailable',
        error: `activation ledger unavailable: ${describeError(error)}`,
        attempts: 0,
        ranOutOfTime: false,
      };
    }
    switch (record.state) {
      case 'activated':
        return { status: 'activated', activationId: record.activationId, attempts: 0 };
      case 'rejected':
        return { status: 'rejected', reason: record.rejectionReason ?? 'rejected', attempts: 0 };
      case 'cancelling':
      case 'cancelled':
        return { status: 'rejected', reason: 'the activation of this occurrence was cancelled', attempts: 0 };
      case 'pending':
      case 'unavailable':
      case 'skipped':
        break;
    }

    const result = await this.inner.activate(request, options);
    // Written behind: no answer waits for the outcome's row (see ActivationLedger).
    void this.recordOutcome(request.idempotencyKey, result).catch((error: unknown) => {
      // The row stays pending, which a later call for the key treats like unavailable; the outcome itself stands.
      this.logger.warn(`could not record the outcome of an activation: ${describeError(error)}`);
    });

    return result;
  }

  async cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult> {
    try {
      await this.ledger.markCancelling(idempotencyKey);
    } catch (error) {
      this.logger.warn(`could not mark an activation for cancellation: ${describeError(error)}`);
    }

    const result = await this.inner.cancel(idempotencyKey, options);

    try {
      if (result.status === 'unavailable') {
        await this.ledger.noteCancellationFailure(idempotencyKey, result.error);
      } else {
        await this.ledger.markCancelled(idempotencyKey);
      }
    } catch (error) {
      this.logger.warn(`could not record the outcome of a cancellation: ${describeError(error)}`);
    }

    return result;
  }

  /** Writes the outcomes that still wait; shutdown calls it before the database closes. */
  async flush(): Promise<void> {
    await this.ledger.flush();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
    const inner = this.inner as Partial<OnApplicationShutdown>;
    await inner.onApplicationShutdown?.();
  }

  private recordOutcome(key: string, result: ActivationResult): Promise<void> {
    switch (result.status) {
      case 'activated':
        return this.ledger.markActivated(key, result.activationId, result.attempts);
      case 'rejected':
        return this.ledger.markRejected(key, result.reason, result.attempts);
      case 'unavailable':
        return this.ledger.markUnavailable(key, result.error, result.attempts);
    }
  }
}
