/** The answer given to one gateway request. */
export interface GatewayOutcome {
  allowed: boolean;
  /** The first reason code of a denial, `NONE` for an approval. */
  reason: string;
}

/**
 * The single place where one request's answer is settled: the first `settle` wins, later ones change nothing.
 * One timer per request (`start`): at `checksEnd` it aborts the checks still running (the profile look-up and the
 * promo activation; the decision engine takes this signal as its deadline), then at `cutoff` it expires the slot,
 * which settles `allowed: false, TIMEOUT` unless something settled first. Everything that records the decision asks
 * the slot first, so that the audit record always says what the answer said.
 */
export class AnswerSlot {
  readonly answer: Promise<GatewayOutcome>;
  /** Aborted at `checksEnd` (or by `expire`): profile look-up and promo activation stop. */
  readonly control = new AbortController();
  /** The budget ran out before the decision settled the answer: the answer was `TIMEOUT`. */
  expiredFirst = false;
  /** The budget ran out, whoever settled first. */
  expired = false;
  private settled = false;
  private resolve!: (outcome: GatewayOutcome) => void;
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    /** Epoch ms by which the answer leaves. */
    readonly cutoff: number,
    /** Epoch ms by which the checks must have finished, leaving the rest of the budget to commit. */
    readonly checksEnd: number = cutoff,
  ) {
    this.answer = new Promise<GatewayOutcome>((resolve) => (this.resolve = resolve));
  }

  /** Arms the slot's timer: the checks stop at `checksEnd`, the slot expires at `cutoff` (at once if both passed). */
  start(): void {
    if (this.started) {
      throw new Error('the answer slot is already started');
    }
    this.started = true;
    const untilChecksEnd = this.checksEnd - Date.now();
    if (untilChecksEnd > 0) {
      this.timer = setTimeout(() => this.endChecks(), untilChecksEnd);
    } else {
      this.endChecks();
    }
  }

  /** Drops the timer, once the answer has left: nothing the slot would still abort or settle matters then. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
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

  private endChecks(): void {
    this.control.abort(new Error('the time for checks is spent'));
    const untilCutoff = this.cutoff - Date.now();
    if (untilCutoff > 0) {
      this.timer = setTimeout(() => this.expire(), untilCutoff);
    } else {
      this.expire();
    }
  }

  expire(): void {
    this.expired = true;
    if (this.settle({ allowed: false, reason: 'TIMEOUT' })) {
      this.expiredFirst = true;
    }
    this.control.abort(new Error('the gateway budget is spent'));
  }
}
