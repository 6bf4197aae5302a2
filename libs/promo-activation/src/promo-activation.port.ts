/** Which flow asks for an activation. */
export type PromoFlow = 'scheduled' | 'triggered';

/** One activation to make; `idempotencyKey` comes from `activationIdempotencyKey` over the other parts. */
export interface ActivationRequest {
  idempotencyKey: string;
  campaignId: string;
  occurrence: string;
  customerId: string;
  promoCode: string;
  flow: PromoFlow;
}

/** Bounds of one activation or cancellation, including its retries. */
export interface PromoCallOptions {
  /** Epoch milliseconds after which no further attempt is made. */
  deadline: number;
  /** Aborts the call in flight and any further attempt. */
  signal?: AbortSignal;
}

/** How an activation ended: a typed outcome, never an exception. */
export type ActivationResult =
  | { status: 'activated'; activationId: string | null; attempts: number }
  | { status: 'rejected'; reason: string; attempts: number }
  | {
      status: 'unavailable';
      error: string;
      attempts: number;
      /**
       * True when time, not the promo system, ended the call: no attempt was refused outright (an error status or a
       * failed connection); the last one got no answer in time, was still in progress (409), or was never started.
       * Such an activation may still land, and the decision's reason is the deadline's rather than the promo
       * system's.
       */
      ranOutOfTime: boolean;
    };

/** How a cancellation ended; `not-activated` means nothing was ever activated under the key. */
export type CancellationResult =
  | { status: 'cancelled' }
  | { status: 'not-activated' }
  | { status: 'unavailable'; error: string };

/**
 * The brand's promo system. `activate` retries with the same key while time allows (a 409 means: in progress, ask
 * again) and never rejects: a final no is `rejected`, running out of time or answers is `unavailable`. `cancel`
 * undoes an activation whose customer was not approved after all.
 */
export abstract class PromoActivationPort {
  abstract activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult>;

  abstract cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult>;
}
