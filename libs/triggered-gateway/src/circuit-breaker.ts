/** `closed`: calls pass; `open`: calls are refused at once; `half-open`: a few probes decide whether to close. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Tuning of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** How long the circuit stays open before probes are let through. @default 3000 */
  openMs?: number;
  /** Successful probes in a row that close the circuit again. @default 2 */
  halfOpenSuccesses?: number;
  /** Probes in flight at once while half-open; further calls are refused. @default 1 */
  halfOpenMaxInFlight?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** Told of every state change (metrics, logs). */
  onStateChange?: (state: BreakerState, previous: BreakerState) => void;
}

/** A call let through by the breaker; report its outcome exactly once. */
export interface BreakerPermit {
  success(): void;
  failure(): void;
}

/**
 * A small consecutive-failure circuit breaker. While open it refuses calls without touching the dependency, so that
 * callers fail fast instead of spending their whole time budget on a dependency known to be down; after `openMs` it
 * lets `halfOpenMaxInFlight` probes through and closes after `halfOpenSuccesses` of them succeed in a row. A failed
 * probe opens it again for another `openMs`.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private readonly halfOpenSuccesses: number;
  private readonly halfOpenMaxInFlight: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 3000;
    this.halfOpenSuccesses = options.halfOpenSuccesses ?? 2;
    this.halfOpenMaxInFlight = options.halfOpenMaxInFlight ?? 1;
    this.now = options.now ?? Date.now;
    for (const [name, value] of Object.entries({
      failureThreshold: this.failureThreshold,
      halfOpenSuccesses: this.halfOpenSuccesses,
      halfOpenMaxInFlight: this.halfOpenMaxInFlight,
    })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
      }
    }
  }

  /** The state now; an open circuit whose time is up reads as half-open. */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) {
      this.transition('half-open');
    }

    return this.current;
  }

  /** A permit for one call, or null when the call must be refused. */
  acquire(): BreakerPermit | null {
    const state = this.state;
    if (state === 'open') {
      return null;
    }
    if (state === 'half-open') {
      if (this.probesInFlight >= this.halfOpenMaxInFlight) {
        return null;
      }
      this.probesInFlight++;

      return this.permit(true);
    }

    return this.permit(false);
  }

  private permit(probe: boolean): BreakerPermit {
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) {
        return;
      }
      settled = true;
      if (probe) {
        this.probesInFlight--;
      }
      if (ok) {
        this.onSuccess(probe);
      } else {
        this.onFailure(probe);
      }
    };

    return { success: () => settle(true), failure: () => settle(false) };
  }

  private onSuccess(probe: boolean): void {
    this.consecutiveFailures = 0;
    if (probe && this.current === 'half-open') {
      this.probeSuccesses++;
      if (this.probeSuccesses >= this.halfOpenSuccesses) {
        this.transition('closed');
      }
    }
  }

  private onFailure(probe: boolean): void {
    if (probe && this.current === 'half-open') {
      this.open();

      return;
    }
    if (this.current !== 'closed') {
      // A call let through before the circuit opened ended after it did: it changes nothing.
      return;
    }
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.failureThreshold) {
      this.open();
    }
  }

  private open(): void {
    this.openedAt = this.now();
    this.consecutiveFailures = 0;
    this.transition('open');
  }

  private transition(next: BreakerState): void {
    const previous = this.current;
    if (previous === next && next !== 'open') {
      return;
    }
    this.current = next;
    this.probeSuccesses = 0;
    if (previous !== next) {
      this.options.onStateChange?.(next, previous);
    }
  }
}
