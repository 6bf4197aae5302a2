import { RateLimitSettings } from '../sandbox.options';

/** A sliding-window log per key: at most `requests` accepted within any `windowMs`. */
export class SlidingWindowLimiter {
  private readonly logs = new Map<string, { times: Float64Array; next: number; filled: number }>();

  constructor(private settings: RateLimitSettings | false) {}

  get current(): RateLimitSettings | false {
    return this.settings;
  }

  configure(settings: RateLimitSettings | false): void {
    this.settings = settings;
    this.logs.clear();
  }

  reset(): void {
    this.logs.clear();
  }

  /** Records the request and returns 0 when it is allowed, else the milliseconds until a slot frees. */
  take(key: string, now = Date.now()): number {
    const settings = this.settings;
    if (!settings) {
      return 0;
    }
    let log = this.logs.get(key);
    if (!log || log.times.length !== settings.requests) {
      log = { times: new Float64Array(settings.requests), next: 0, filled: 0 };
      this.logs.set(key, log);
    }
    if (log.filled === settings.requests) {
      const oldest = log.times[log.next];
      const freeAt = oldest + settings.windowMs;
      if (freeAt > now) {
        return freeAt - now;
      }
    } else {
      log.filled++;
    }
    log.times[log.next] = now;
    log.next = (log.next + 1) % settings.requests;

    return 0;
  }
}

/** Parses SANDBOX_RATE_LIMIT: 'off', or '<requests>/<seconds>' such as '50/10'. */
export function parseRateLimit(text: string): RateLimitSettings | false | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'off' || trimmed === 'false' || trimmed === 'none') {
    return false;
  }
  const match = /^(\d+)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(trimmed);
  if (!match) {
    return undefined;
  }
  const requests = Number(match[1]);
  const windowMs = Number(match[2]) * 1000;
  if (requests < 1 || windowMs <= 0) {
    return undefined;
  }

  return { requests, windowMs };
}
