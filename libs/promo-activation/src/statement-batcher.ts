/** Tuning of a {@link StatementBatcher}. */
export interface StatementBatcherOptions {
  /** Items per statement at most. @default 500 */
  maxBatchSize?: number;
  /** Statements in flight at once; items arriving meanwhile wait and form the next, bigger batch. @default 2 */
  maxConcurrent?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for single-row statements: items submitted in the same turn of the event loop, or while every slot
 * is busy, are run by one call of `run`, which returns one result per item in order. Nothing waits on a timer: an
 * idle batcher starts the statement on the next turn, so a lone caller pays no added delay, and under load each
 * statement (each commit) carries many callers. Each caller's promise settles only when its statement has; if a
 * batch fails with a data error (SQLSTATE class 22 or 23), each item is retried alone so that one bad item fails
 * only its own caller.
 */
export class StatementBatcher<I, O> {
  private readonly maxBatchSize: number;
  private readonly maxConcurrent: number;
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    options: StatementBatcherOptions = {},
  ) {
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? 500);
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 2);
  }

  submit(item: I): Promise<O> {
    const result = new Promise<O>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (!this.scheduled && this.inFlight < this.maxConcurrent) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }

    return result;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxConcurrent) {
      const batch = this.queue.splice(0, this.maxBatchSize);
      this.inFlight++;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        this.pump();
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
