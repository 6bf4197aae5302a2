/** How failed attempts of a call that is safe to repeat are retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 5 */
  maxAttempts: number;
  /** First backoff step; doubles with each attempt. @default 250 */
  baseDelayMs: number;
  /** Largest backoff step. @default 10000 */
  maxDelayMs: number;
  /** Longest `Retry-After` honoured; a longer one makes the call fail at once. @default 60000 */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

/**
 * A `Retry-After` value (delay in seconds, or an HTTP-date) as milliseconds from `nowMs`; undefined when absent or
 * unreadable. A date in the past means no wait.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) {
    return undefined;
  }
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Math.round(Number(text) * 1000);
  }
  const date = Date.parse(text);

  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/**
 * Wait before attempt `attempt + 1`: "full jitter" exponential backoff (uniform in [0, min(max, base * 2^(n-1))]),
 * so that many clients failing together do not retry together; never less than the server's `Retry-After`.
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(random() * ceiling);
  if (retryAfterMs === undefined) {
    return jittered;
  }

  return retryAfterMs + Math.round(random() * Math.min(ceiling, 1000) * 0.2);
}
