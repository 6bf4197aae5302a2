/** The answer given to one gateway request. */
export interface GatewayOutcome {
  allowed: boolean;
  /** The first reason code of a denial, `NONE` for an approval. */
  reason: string;
}

/**
 * The single place where one request's answer is settled: the first `settle` wins, later ones change nothing.
 * `expire` (the budget's timer) settles `allowed: false, TIMEOUT` unless something settled first, and aborts the
 * checks still running. Everything that records the decision asks the slot first, so that the audit record always
 * says what the answer said.
 */
export class AnswerSlot {
  readonly answer: Promise<GatewayOutcome>;
  /** Aborted when the budget is spent: profile look-up and promo activation stop. */
  readonly control = new AbortController();
  /** The budget ran out before the decision settled the answer: the answer was `TIMEOUT`. */
  expiredFirst = false;
  /** The budget ran out, whoever settled first. */
  expired = false;
  private settled = false;
  private resolve!: (outcome: GatewayOutcome) => void;

  constructor(
    /** Epoch ms by which the answer leaves. */
    readonly cutoff: number,
  ) {
    this.answer = new Promise<GatewayOutcome>((resolve) => (this.resolve = resolve));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  settle(outcome: GatewayOutcome): boolean {
    if (this.settled) {
      return false;
    }
    this.settled = true;
    this.resolve(outcome);

    return true;
  }

  expire(): void {
    this.expired = true;
    if (this.settle({ allowed: false, reason: 'TIMEOUT' })) {
      this.expiredFirst = true;
    }
    this.control.abort(new Error('the gateway budget is spent'));
  }
}
