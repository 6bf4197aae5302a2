import { performance } from 'node:perf_hooks';

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted while waiting for the rate limit');
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * At most `requests` permits in any `windowMs`, handed out first come, first served: a log of the last `requests`
 * grant times, so a permit is free again exactly `windowMs` after the one it replaces (Optimove counts per API key
 * over a sliding window). `pauseFor` holds every permit back, e.g. for a 429's `Retry-After`.
 */
export class SlidingWindowRateLimiter {
  private readonly grants: Float64Array;
  private head = 0;
  private used = 0;
  private pausedUntil = 0;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly requests: number,
    readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(requests) || requests < 1 || !(windowMs > 0)) {
      throw new RangeError('rate limit needs requests >= 1 and windowMs > 0');
    }
    this.grants = new Float64Array(requests);
  }

  /** Resolves when a permit is granted; rejects with the signal's reason if aborted while waiting. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) {
      return Promise.reject(abortReason(signal));
    }
    if (this.waiters.length === 0 && this.tryGrant()) {
      return Promise.resolve();
    }

    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) {
            this.waiters.splice(index, 1);
          }
          reject(abortReason(signal));
          this.schedule();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  /** No permit is granted for the next `ms` milliseconds. */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.schedule();
  }

  /** Rejects every waiter and stops the timer. */
  close(reason: unknown = new Error('rate limiter closed')): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters.splice(0)) {
      this.detach(waiter);
      waiter.reject(reason);
    }
  }

  private expire(now: number): void {
    while (this.used > 0 && this.grants[this.head] <= now - this.windowMs) {
      this.head = (this.head + 1) % this.requests;
      this.used--;
    }
  }

  private tryGrant(): boolean {
    const now = this.now();
    this.expire(now);
    if (now < this.pausedUntil || this.used >= this.requests) {
      return false;
    }
    this.grants[(this.head + this.used) % this.requests] = now;
    this.used++;

    return true;
  }

  private detach(waiter: Waiter): void {
    if (waiter.signal && waiter.onAbort) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.waiters.length > 0 && this.tryGrant()) {
      const waiter = this.waiters.shift() as Waiter;
      this.detach(waiter);
      waiter.resolve();
    }
    if (this.waiters.length === 0) {
      return;
    }
    const now = this.now();
    const nextFree = this.used >= this.requests ? this.grants[this.head] + this.windowMs : now;
    const delay = Math.max(1, Math.ceil(Math.max(nextFree, this.pausedUntil) - now));
    this.timer = setTimeout(() => this.schedule(), delay);
  }
}
