import { Profile, ProfileLookupOptions, ProfileSourceError, ProfileSourcePort } from '@app/compliance';
import { CircuitBreaker } from './circuit-breaker';

/**
 * The gateway's view of the profile source: the configured adapter behind a circuit breaker. While the circuit is
 * open, look-ups fail at once with a {@link ProfileSourceError}, which the engine turns into `PROFILE_UNAVAILABLE`
 * without waiting out the budget. Every failure counts, a look-up cut short by the budget included: a source too
 * slow for the gateway is, for the gateway, down.
 */
export class BreakingProfileSourceAdapter extends ProfileSourcePort {
  constructor(
    private readonly inner: ProfileSourcePort,
    readonly breaker: CircuitBreaker,
  ) {
    super();
  }

  fetchProfiles(customerIds: readonly string[], options?: ProfileLookupOptions): Promise<Map<string, Profile>> {
    return this.guard(() => this.inner.fetchProfiles(customerIds, options));
  }

  fetchProfile(customerId: string, options?: ProfileLookupOptions): Promise<Profile | null> {
    return this.guard(() => this.inner.fetchProfile(customerId, options));
  }

  private async guard<T>(call: () => Promise<T>): Promise<T> {
    const permit = this.breaker.acquire();
    if (permit === null) {
      throw new ProfileSourceError('the profile source circuit is open: not asked', 'failed');
    }
    try {
      const result = await call();
      permit.success();

      return result;
    } catch (error) {
      permit.failure();
      throw error;
    }
  }
}
