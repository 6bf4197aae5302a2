import { counter, histogram } from '@app/observability';
import { OnApplicationShutdown } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import { Profile } from './profile';
import { ProfileLookupOptions, ProfileSourcePort } from './profile-source.port';

type Call = 'batch' | 'single';

/** Counts every profile look-up by call and outcome, and times it; the wrapped source does the work. */
export class MeteredProfileSourceAdapter extends ProfileSourcePort implements OnApplicationShutdown {
  private readonly calls: Counter<'call' | 'outcome'>;
  private readonly seconds: Histogram<'call'>;

  constructor(
    private readonly inner: ProfileSourcePort,
    registry: Registry,
  ) {
    super();
    this.calls = counter(registry, {
      name: 'profile_requests_total',
      help: 'Calls to the profile source, by call and outcome',
      labelNames: ['call', 'outcome'],
    });
    this.seconds = histogram(registry, {
      name: 'profile_request_duration_seconds',
      help: 'Latency of calls to the profile source',
      labelNames: ['call'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
  }

  fetchProfiles(customerIds: readonly string[], options?: ProfileLookupOptions): Promise<Map<string, Profile>> {
    return this.measure('batch', () => this.inner.fetchProfiles(customerIds, options));
  }

  fetchProfile(customerId: string, options?: ProfileLookupOptions): Promise<Profile | null> {
    return this.measure('single', () => this.inner.fetchProfile(customerId, options));
  }

  async onApplicationShutdown(): Promise<void> {
    await (this.inner as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
  }

  private async measure<T>(call: Call, work: () => Promise<T>): Promise<T> {
    const stop = this.seconds.startTimer({ call });
    try {
      const result = await work();
      this.calls.inc({ call, outcome: result === null ? 'not_found' : 'ok' });

      return result;
    } catch (error) {
      this.calls.inc({ call, outcome: (error as { kind?: string }).kind ?? 'failed' });
      throw error;
    } finally {
      stop();
    }
  }
}
