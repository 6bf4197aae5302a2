/**
 * The signal of one outgoing call: aborted when the caller's signal aborts or when `timeoutMs` have passed, whichever
 * comes first. `release()` clears the timer and detaches from the caller's signal at once.
 *
 * `AbortSignal.any([signal, AbortSignal.timeout(ms)])` does the same but costs more on a hot path: its timer cannot be
 * cleared, so every call leaves a pending timer (which, when it fires, builds a DOMException for a signal nobody
 * reads), and the combined signal stays registered with a long-lived caller signal until it is collected.
 */
export class TimeLimit {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onParentAbort: (() => void) | undefined;
  private expired = false;

  constructor(
    private readonly parent: AbortSignal | undefined,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    if (parent?.aborted) {
      this.controller.abort(parent.reason);
    } else if (parent !== undefined) {
      this.onParentAbort = () => this.controller.abort(parent.reason);
      parent.addEventListener('abort', this.onParentAbort, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True when the time ran out first (not the caller's signal). */
  get timedOut(): boolean {
    return this.expired;
  }

  release(): void {
    clearTimeout(this.timer);
    if (this.onParentAbort !== undefined) {
      this.parent?.removeEventListener('abort', this.onParentAbort);
    }
  }
}
