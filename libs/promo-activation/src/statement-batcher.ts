/** Tuning of a {@link StatementBatcher}. */
export interface StatementBatcherOptions {
  /** Items per statement at most. @default 500 */
  maxBatchSize?: number;
  /** Statements in flight at once; items arriving meanwhile wait and form the next, bigger batch. @default 2 */
  maxConcurrent?: number;
  /**
   * How long an idle batcher waits for more items before it starts a statement. 0: the next turn of the event loop,
   * for callers that wait on the result; a write nobody waits for can linger and carry far more items a statement.
   * @default 0
   */
  lingerMs?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for single-row statements: items submitted in the same turn of the event loop, or while every slot
 * is busy, are run by one call of `run`, which returns one result per item in order. Unless `lingerMs` says
 * otherwise, nothing waits on a timer: an idle batcher starts the statement on the next turn, so a lone caller pays
 * no added delay, and under load each statement (each commit) carries many callers. Each caller's promise settles
 * only when its statement has; if a batch fails with a data error (SQLSTATE class 22 or 23), each item is retried
 * alone so that one bad item fails only its own caller.
 */
export class StatementBatcher<I, O> {
  private readonly maxBatchSize: number;
  private readonly maxConcurrent: number;
  private readonly lingerMs: number;
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private running = 0;
  private scheduled = false;
  private lingering: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    options: StatementBatcherOptions = {},
  ) {
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? 500);
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 2);
    this.lingerMs = Math.max(0, options.lingerMs ?? 0);
  }

  /** Items submitted and not yet settled. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  submit(item: I): Promise<O> {
    const result = new Promise<O>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (this.queue.length >= this.maxBatchSize) {
      this.pump();
    } else if (!this.scheduled && this.inFlight < this.maxConcurrent) {
      this.scheduled = true;
      const start = (): void => {
        this.scheduled = false;
        this.lingering = undefined;
        this.pump();
      };
      if (this.lingerMs > 0) {
        this.lingering = setTimeout(start, this.lingerMs);
      } else {
        setImmediate(start);
      }
    }

    return result;
  }

  /** Starts whatever waits now, without lingering, and resolves once nothing is queued or running. */
  async flush(): Promise<void> {
    if (this.lingering !== undefined) {
      clearTimeout(this.lingering);
      this.lingering = undefined;
      this.scheduled = false;
    }
    this.pump();
    if (this.pending === 0) {
      return;
    }
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxConcurrent) {
      const batch = this.queue.splice(0, this.maxBatchSize);
      this.inFlight++;
      this.running += batch.length;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        this.running -= batch.length;
        this.pump();
        if (this.pending === 0) {
          this.idleWaiters.splice(0).forEach((resolve) => resolve());
        }
      });
    }
  }

  private async execute(batch: Waiting<I, O>[]): Promise<void> {
    let results: O[];
    try {
      results = await this.run(batch.map((waiting) => waiting.item));
    } catch (error) {
      if (batch.length > 1 && isDataError(error)) {
        await Promise.all(batch.map((waiting) => this.execute([waiting])));
      } else {
        batch.forEach((waiting) => waiting.reject(error));
      }

      return;
    }
    batch.forEach((waiting, index) => waiting.resolve(results[index]));
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
function isDataError(error: unknown): boolean {
  const failure = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = failure?.driverError?.code ?? failure?.code;

  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
