import { Logger, OnApplicationShutdown } from '@nestjs/common';
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
 */
export class RecordingPromoActivationAdapter extends PromoActivationPort implements OnApplicationShutdown {
  private readonly logger = new Logger(RecordingPromoActivationAdapter.name);

  constructor(
    /** The adapter underneath, for callers that record activations themselves, in batches. */
    readonly inner: PromoActivationPort,
    private readonly ledger: ActivationLedger,
  ) {
    super();
  }

  async activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
    if (options.signal?.aborted || Date.now() >= options.deadline) {
      return { status: 'unavailable', error: 'no time left to start the activation', attempts: 0 };
    }
    let record;
    try {
      record = await this.ledger.begin(request);
    } catch (error) {
      return { status: 'unavailable', error: `activation ledger unavailable: ${describe(error)}`, attempts: 0 };
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
        break;
    }

    const result = await this.inner.activate(request, options);

    try {
      switch (result.status) {
        case 'activated':
          await this.ledger.markActivated(request.idempotencyKey, result.activationId, result.attempts);
          break;
        case 'rejected':
          await this.ledger.markRejected(request.idempotencyKey, result.reason, result.attempts);
          break;
        case 'unavailable':
          await this.ledger.markUnavailable(request.idempotencyKey, result.error, result.attempts);
          break;
      }
    } catch (error) {
      // The row stays pending, which a sweeper treats like unavailable; the outcome itself still stands.
      this.logger.warn(`could not record the outcome of an activation: ${describe(error)}`);
    }

    return result;
  }

  async cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult> {
    try {
      await this.ledger.markCancelling(idempotencyKey);
    } catch (error) {
      this.logger.warn(`could not mark an activation for cancellation: ${describe(error)}`);
    }

    const result = await this.inner.cancel(idempotencyKey, options);

    try {
      if (result.status === 'unavailable') {
        await this.ledger.noteCancellationFailure(idempotencyKey, result.error);
      } else {
        await this.ledger.markCancelled(idempotencyKey);
      }
    } catch (error) {
      this.logger.warn(`could not record the outcome of a cancellation: ${describe(error)}`);
    }

    return result;
  }

  async onApplicationShutdown(): Promise<void> {
    const inner = this.inner as Partial<OnApplicationShutdown>;
    await inner.onApplicationShutdown?.();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
