import {
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  PromoActivationPort,
  PromoCallOptions,
} from '@app/promo-activation';
import { CircuitBreaker } from './circuit-breaker';

/** Keys refused by an open circuit are remembered this long at most, so that the set cannot grow without bound. */
const REFUSED_KEYS_LIMIT = 10_000;

/**
 * The gateway's view of the promo system: the configured port (the ledger-recording HTTP adapter) behind a circuit
 * breaker. Sits outside the ledger, so that an activation refused by an open circuit costs no database write and no
 * call. Two further duties:
 * - An activation that ran out of time (still in progress, no answer yet) is held until the caller's signal aborts,
 *   which the engine's deadline does a few milliseconds later: the engine then reports the request's `TIMEOUT`
 *   instead of `PROMO_UNAVAILABLE`, because the budget, not a failing promo system, ended the check.
 * - Cancelling a key this adapter refused is answered `not-activated` at once: nothing was ever sent under it in
 *   that call, and a down promo system must not be asked to cancel what it never saw.
 */
export class BreakingPromoActivationAdapter extends PromoActivationPort {
  private readonly refusedKeys = new Set<string>();

  constructor(
    private readonly inner: PromoActivationPort,
    readonly breaker: CircuitBreaker,
  ) {
    super();
  }

  async activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
    const permit = this.breaker.acquire();
    if (permit === null) {
      this.rememberRefused(request.idempotencyKey);

      return {
        status: 'unavailable',
        error: 'the promo system circuit is open: not asked',
        attempts: 0,
        ranOutOfTime: false,
      };
    }
    const result = await this.inner.activate(request, options);
    if (result.status === 'unavailable') {
      permit.failure();
      if (result.ranOutOfTime) {
        await abortOf(options);
      }
    } else {
      permit.success();
    }

    return result;
  }

  cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult> {
    if (this.refusedKeys.delete(idempotencyKey)) {
      return Promise.resolve({ status: 'not-activated' });
    }

    return this.inner.cancel(idempotencyKey, options);
  }

  private rememberRefused(key: string): void {
    if (this.refusedKeys.size >= REFUSED_KEYS_LIMIT) {
      const oldest = this.refusedKeys.values().next();
      if (!oldest.done) {
        this.refusedKeys.delete(oldest.value);
      }
    }
    this.refusedKeys.add(key);
  }
}

/** Resolves when the call's signal aborts, or shortly after its deadline when the signal does not come. */
function abortOf(options: PromoCallOptions): Promise<void> {
  const signal = options.signal;
  if (signal === undefined || signal.aborted) {
    return Promise.resolve();
  }

  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, Math.max(0, options.deadline - Date.now()) + 100);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
