import { Profile } from './profile';
import {
  PROFILE_BATCH_LIMIT,
  ProfileLookupOptions,
  ProfileSourceError,
  ProfileSourcePort,
} from './profile-source.port';

/** Tuning of {@link CoalescingProfileSource}. */
export interface CoalescingProfileSourceOptions {
  /** Batch calls in flight at once; look-ups arriving meanwhile wait and form the next batch. @default 4 */
  maxInFlight?: number;
}

interface Waiter {
  customerId: string;
  signal: AbortSignal | undefined;
  resolve: (profile: Profile | null) => void;
  reject: (error: Error) => void;
  /** Set once the waiter has been answered (or gave up), so that it is answered once. */
  settled: boolean;
  onAbort?: () => void;
}

function aborted(): ProfileSourceError {
  return new ProfileSourceError('profile look-up aborted', 'aborted');
}

/**
 * Single look-ups that arrive together travel as one batch call (`fetchProfiles`) to the wrapped source: those of
 * the same turn of the event loop, and those that arrive while `maxInFlight` batches are out. A lone look-up waits
 * one turn at most. Each caller keeps its own signal: an aborted caller is answered at once and leaves the batch,
 * and a batch whose callers have all gone is aborted. A failed batch fails each of its callers with its error.
 */
export class CoalescingProfileSource extends ProfileSourcePort {
  private readonly maxInFlight: number;
  private queue: Waiter[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly inner: ProfileSourcePort,
    options: CoalescingProfileSourceOptions = {},
  ) {
    super();
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
  }

  fetchProfiles(customerIds: readonly string[], options?: ProfileLookupOptions): Promise<Map<string, Profile>> {
    return this.inner.fetchProfiles(customerIds, options);
  }

  fetchProfile(customerId: string, options: ProfileLookupOptions = {}): Promise<Profile | null> {
    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(aborted());
    }

    return new Promise<Profile | null>((resolve, reject) => {
      const waiter: Waiter = { customerId, signal, resolve, reject, settled: false };
      if (signal !== undefined) {
        waiter.onAbort = () => this.settle(waiter, aborted());
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.scheduled && this.inFlight < this.maxInFlight) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight) {
      const batch = this.takeBatch();
      if (batch.length === 0) {
        return;
      }
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** Up to {@link PROFILE_BATCH_LIMIT} distinct customers of the waiters still waiting, in arrival order. */
  private takeBatch(): Waiter[] {
    const batch: Waiter[] = [];
    const customers = new Set<string>();
    while (this.queue.length > 0) {
      const waiter = this.queue[0];
      if (waiter.settled) {
        this.queue.shift();
        continue;
      }
      if (!customers.has(waiter.customerId) && customers.size >= PROFILE_BATCH_LIMIT) {
        break;
      }
      customers.add(waiter.customerId);
      batch.push(waiter);
      this.queue.shift();
    }

    return batch;
  }

  private async send(batch: Waiter[]): Promise<void> {
    const control = new AbortController();
    let waiting = batch.length;
    const leave = (): void => {
      waiting--;
      if (waiting === 0) {
        control.abort();
      }
    };
    for (const waiter of batch) {
      if (waiter.signal !== undefined) {
        waiter.signal.addEventListener('abort', leave, { once: true });
      }
    }
    try {
      const ids = [...new Set(batch.map((waiter) => waiter.customerId))];
      const profiles = await this.inner.fetchProfiles(ids, { signal: control.signal });
      for (const waiter of batch) {
        this.settle(waiter, profiles.get(waiter.customerId) ?? null);
      }
    } catch (error) {
      const failure = error instanceof Error ? error : new ProfileSourceError(String(error), 'failed');
      for (const waiter of batch) {
        this.settle(waiter, failure);
      }
    } finally {
      for (const waiter of batch) {
        waiter.signal?.removeEventListener('abort', leave);
      }
    }
  }

  private settle(waiter: Waiter, outcome: Profile | null | Error): void {
    if (waiter.settled) {
      return;
    }
    waiter.settled = true;
    if (waiter.onAbort !== undefined) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
    }
    if (outcome instanceof Error) {
      waiter.reject(outcome);
    } else {
      waiter.resolve(outcome);
    }
  }
}
