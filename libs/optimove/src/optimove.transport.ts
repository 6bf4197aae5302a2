import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import {
  OptimoveAbortedError,
  OptimoveApiError,
  OptimoveCall,
  OptimoveError,
  OptimoveNetworkError,
  OptimoveResponseError,
  OptimoveTimeoutError,
} from './optimove.errors';
import { OptimoveMetrics, OptimoveRequestOutcome } from './optimove.metrics';
import { OptimoveTimeouts } from './optimove.options';
import { backoffDelayMs, parseRetryAfter, RetryPolicy } from './retry.policy';
import { SlidingWindowRateLimiter } from './sliding-window.rate-limiter';

/** Per-call controls accepted by every method of the client. */
export interface OptimoveCallOptions {
  /** Cancels the call (and its retries). */
  signal?: AbortSignal;
  /** Deadline of this call in milliseconds, retries and waits included. @default the client's `timeouts.callMs` */
  timeoutMs?: number;
}

/** One logical call: how to send it, whether repeating it is safe, and how to read a 2xx answer. */
export interface OptimoveRequest<T> {
  call: OptimoveCall;
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  body?: unknown;
  /** Repeating the request has the same effect as sending it once, so it may be retried after an unclear failure. */
  idempotent: boolean;
  /** Reads the parsed 2xx body (undefined when empty); throws `OptimoveResponseError` when unusable. */
  read: (body: unknown, status: number) => T;
  /**
   * Optional fast path for a 2xx: takes the raw body chunks and answers the result, or undefined to fall back to
   * `read`. Lets a large page wait as buffers outside the JS heap until it is consumed.
   */
  readBytes?: (chunks: Buffer[]) => T | undefined;
}

export interface OptimoveTransportSettings {
  apiKey: string;
  timeouts: OptimoveTimeouts;
  retry: RetryPolicy;
  keepAliveMs: number;
  connectionsPerOrigin: number;
  rejectStringBodyOnSuccess: boolean;
}

class DeadlineReached extends Error {}

const NETWORK_CODES_BY_TIMEOUT_PHASE: Record<string, 'connect' | 'headers' | 'body'> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  UND_ERR_HEADERS_TIMEOUT: 'headers',
  UND_ERR_BODY_TIMEOUT: 'body',
};

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      return code;
    }
    current = (current as { cause?: unknown }).cause;
  }

  return undefined;
}

function outcomeOf(error: OptimoveError): OptimoveRequestOutcome {
  if (error instanceof OptimoveApiError) {
    if (error.status === 429) {
      return 'rate_limited';
    }

    return error.status >= 500 ? 'server_error' : 'client_error';
  }
  if (error instanceof OptimoveResponseError) {
    return 'malformed_response';
  }
  if (error instanceof OptimoveTimeoutError) {
    return 'timeout';
  }

  return error instanceof OptimoveAbortedError ? 'aborted' : 'network_error';
}

/**
 * Sends Optimove requests over one keep-alive undici `Agent` per origin, under the client-side rate limit, with a
 * deadline per call and jittered exponential retries of retryable failures for requests marked idempotent.
 */
export class OptimoveTransport {
  private readonly logger = new Logger('OptimoveClient');
  private readonly agents = new Map<string, Agent>();
  private closed = false;

  constructor(
    private readonly settings: OptimoveTransportSettings,
    private readonly metrics: OptimoveMetrics,
    private readonly limiter: SlidingWindowRateLimiter | undefined,
  ) {}

  async send<T>(spec: OptimoveRequest<T>, options: OptimoveCallOptions = {}): Promise<T> {
    if (this.closed) {
      throw new Error('OptimoveClient is closed');
    }
    const deadlineMs = options.timeoutMs ?? this.settings.timeouts.callMs;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DeadlineReached()), deadlineMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    const startedAt = performance.now();
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    let lastFailure: OptimoveError | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.attempt(spec, body, signal);
        } catch (error) {
          const failure = this.classify(error, spec.call, options.signal, deadline.signal, deadlineMs, lastFailure);
          failure.attempts = attempt;
          lastFailure = failure;
          const delayMs = this.retryDelay(failure, spec, attempt, deadlineMs - (performance.now() - startedAt));
          if (delayMs === undefined) {
            throw failure;
          }
          this.logger.warn(`${failure.message}; attempt ${attempt}, retrying in ${delayMs} ms`);
          this.metrics.retries.inc({ call: spec.call });
          try {
            await sleep(delayMs, undefined, { signal });
          } catch (sleepError) {
            const aborted = this.classify(sleepError, spec.call, options.signal, deadline.signal, deadlineMs, failure);
            aborted.attempts = attempt;
            throw aborted;
          }
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every connection pool, waiting up to `graceMs` for requests in flight before destroying them. */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    this.limiter?.close(new Error('OptimoveClient is closed'));
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(
      agents.map(async (agent) => {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<'expired'>((resolve) => {
          timer = setTimeout(() => resolve('expired'), graceMs);
        });
        const result = await Promise.race([agent.close().then(() => 'closed' as const), expired]);
        clearTimeout(timer);
        if (result === 'expired') {
          await agent.destroy();
        }
      }),
    );
  }

  private agentFor(url: URL): Agent {
    let agent = this.agents.get(url.origin);
    if (!agent) {
      const { timeouts } = this.settings;
      agent = new Agent({
        connect: { timeout: timeouts.connectMs },
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
        keepAliveTimeout: this.settings.keepAliveMs,
        keepAliveMaxTimeout: this.settings.keepAliveMs,
        connections: this.settings.connectionsPerOrigin,
      });
      this.agents.set(url.origin, agent);
    }

    return agent;
  }

  private async attempt<T>(spec: OptimoveRequest<T>, body: string | undefined, signal: AbortSignal): Promise<T> {
    if (this.limiter) {
      const waitStarted = performance.now();
      await this.limiter.acquire(signal);
      this.metrics.rateLimitWait.observe({ call: spec.call }, (performance.now() - waitStarted) / 1000);
    }
    const url = new URL(spec.url);
    const endTimer = this.metrics.duration.startTimer({ call: spec.call });
    let outcome: OptimoveRequestOutcome = 'network_error';
    try {
      const response = await request(url, {
        dispatcher: this.agentFor(url),
        method: spec.method,
        headers: {
          'x-api-key': this.settings.apiKey,
          accept: 'application/json',
          'content-type': 'application/json',
        },
        body,
        signal,
      });
      const status = response.statusCode;
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) {
        chunks.push(chunk as Buffer);
      }
      const fast = status >= 200 && status < 300 ? spec.readBytes?.(chunks) : undefined;
      if (fast !== undefined) {
        outcome = 'success';

        return fast;
      }
      const text = this.redact(Buffer.concat(chunks).toString('utf8'));
      const parsed = this.parseBody(text);
      if (status < 200 || status >= 300) {
        const retryable = status === 408 || status === 429 || status >= 500;
        const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
        throw new OptimoveApiError(spec.call, status, parsed.value, retryable, retryAfterMs);
      }
      if (!parsed.ok) {
        throw new OptimoveResponseError(spec.call, status, text, 'not JSON');
      }
      if (typeof parsed.value === 'string' && this.settings.rejectStringBodyOnSuccess) {
        throw new OptimoveApiError(spec.call, status, parsed.value, false);
      }
      const result = spec.read(parsed.value, status);
      outcome = 'success';

      return result;
    } catch (error) {
      if (error instanceof OptimoveError) {
        outcome = outcomeOf(error);
      } else if (signal.aborted) {
        outcome = 'aborted';
      } else if (errorCode(error) && NETWORK_CODES_BY_TIMEOUT_PHASE[errorCode(error) as string]) {
        outcome = 'timeout';
      }
      throw error;
    } finally {
      endTimer();
      this.metrics.requests.inc({ call: spec.call, outcome });
    }
  }

  private parseBody(text: string): { ok: boolean; value: unknown } {
    if (text.trim() === '') {
      return { ok: true, value: undefined };
    }
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, value: text };
    }
  }

  /** Optimove has no reason to echo the key, but an error body must never carry it into a log. */
  private redact(text: string): string {
    return text.includes(this.settings.apiKey) ? text.split(this.settings.apiKey).join('[REDACTED]') : text;
  }

  private classify(
    error: unknown,
    call: OptimoveCall,
    callerSignal: AbortSignal | undefined,
    deadlineSignal: AbortSignal,
    deadlineMs: number,
    lastFailure: OptimoveError | undefined,
  ): OptimoveError {
    if (callerSignal?.aborted) {
      return new OptimoveAbortedError(call, { cause: lastFailure ?? callerSignal.reason });
    }
    if (deadlineSignal.aborted) {
      return new OptimoveTimeoutError(call, 'deadline', deadlineMs, { cause: lastFailure });
    }
    if (error instanceof OptimoveError) {
      return error;
    }
    const code = errorCode(error);
    const phase = code === undefined ? undefined : NETWORK_CODES_BY_TIMEOUT_PHASE[code];
    if (phase) {
      const { timeouts } = this.settings;
      const limit =
        phase === 'connect' ? timeouts.connectMs : phase === 'headers' ? timeouts.headersMs : timeouts.bodyMs;

      return new OptimoveTimeoutError(call, phase, limit, { cause: error });
    }

    return new OptimoveNetworkError(call, code, { cause: error });
  }

  /** The wait before the next attempt, or undefined when the failure is final. */
  private retryDelay(
    failure: OptimoveError,
    spec: OptimoveRequest<unknown>,
    attempt: number,
    remainingMs: number,
  ): number | undefined {
    const policy = this.settings.retry;
    if (!failure.retryable || !spec.idempotent || attempt >= policy.maxAttempts) {
      return undefined;
    }
    const retryAfterMs = failure instanceof OptimoveApiError ? failure.retryAfterMs : undefined;
    if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) {
      return undefined;
    }
    if (retryAfterMs !== undefined && failure instanceof OptimoveApiError && failure.status === 429) {
      this.limiter?.pauseFor(retryAfterMs);
    }
    const delayMs = backoffDelayMs(attempt, policy, retryAfterMs);

    return delayMs < remainingMs ? delayMs : undefined;
  }
}
