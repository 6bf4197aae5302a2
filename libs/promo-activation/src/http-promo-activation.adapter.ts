import { describeError, ExchangeAbortedError, exchangeText } from '@app/observability';
import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dispatcher, Pool } from 'undici';
import {
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  PromoActivationPort,
  PromoCallOptions,
} from './promo-activation.port';

/** Where and how the HTTP promo system is reached. */
export interface HttpPromoActivationOptions {
  /** Base URL of the promo system. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Limit on one attempt; an attempt never outlives the call's deadline either. @default 1000 */
  requestTimeoutMs?: number;
  /** First pause between attempts, doubled after each one. @default 25 */
  initialBackoffMs?: number;
  /** Longest pause between attempts. @default 400 */
  maxBackoffMs?: number;
  /** Connections kept to the promo system. @default 32 */
  connections?: number;
}

/** How an attempt's description starts when the request itself failed (no connection, a broken answer). */
const REQUEST_FAILED = 'request failed: ';

interface Attempt {
  statusCode: number;
  body: unknown;
}

/**
 * The promo system over HTTP (`POST /activations`, `DELETE /activations/{key}`). Every attempt of a call carries the
 * same `Idempotency-Key`; attempts are spaced by exponential backoff with jitter and stop at the deadline or abort.
 */
export class HttpPromoActivationAdapter extends PromoActivationPort implements OnApplicationShutdown {
  private readonly logger = new Logger(HttpPromoActivationAdapter.name);
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly token: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(options: HttpPromoActivationOptions) {
    super();
    const base = new URL(options.url);
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.token = options.token || undefined;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 1000;
    this.initialBackoffMs = options.initialBackoffMs ?? 25;
    this.maxBackoffMs = options.maxBackoffMs ?? 400;
    this.pool = new Pool(base.origin, {
      connections: options.connections ?? 32,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
      connectTimeout: this.requestTimeoutMs,
    });
  }

  async activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
    const body = JSON.stringify({
      customerId: request.customerId,
      promoCode: request.promoCode,
      campaignId: request.campaignId,
      flow: request.flow,
    });
    let lastError = 'no time left for an attempt';
    // Set once the promo system refuses an attempt outright: the call then ends for its failure, not for the time.
    let refused = false;
    for (let attempts = 1; ; attempts++) {
      const outcome = await this.attempt('POST', '/activations', request.idempotencyKey, body, options);
      if (typeof outcome === 'string') {
        lastError = outcome;
        refused ||= outcome.startsWith(REQUEST_FAILED);
      } else if (outcome.statusCode === 200 || outcome.statusCode === 201) {
        const activationId = (outcome.body as { activationId?: unknown } | null)?.activationId;

        return { status: 'activated', activationId: typeof activationId === 'string' ? activationId : null, attempts };
      } else if (outcome.statusCode === 422) {
        const reason = (outcome.body as { reason?: unknown } | null)?.reason;

        return { status: 'rejected', reason: typeof reason === 'string' ? reason : 'rejected', attempts };
      } else {
        const inProgress = outcome.statusCode === 409;
        lastError = inProgress ? 'activation still in progress (409)' : `answered ${outcome.statusCode}`;
        refused ||= !inProgress;
      }

      if (!(await this.pauseBeforeRetry(attempts, options))) {
        this.logger.warn(`promo activation unavailable after ${attempts} attempt(s): ${lastError}`);

        return { status: 'unavailable', error: lastError, attempts, ranOutOfTime: !refused };
      }
    }
  }

  async cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult> {
    const path = `/activations/${encodeURIComponent(idempotencyKey)}`;
    let lastError = 'no time left for an attempt';
    for (let attempts = 1; ; attempts++) {
      const outcome = await this.attempt('DELETE', path, idempotencyKey, undefined, options);
      if (typeof outcome === 'string') {
        lastError = outcome;
      } else if (outcome.statusCode === 200 || outcome.statusCode === 204) {
        return { status: 'cancelled' };
      } else if (outcome.statusCode === 404) {
        return { status: 'not-activated' };
      } else {
        lastError = outcome.statusCode === 409 ? 'activation still in flight (409)' : `answered ${outcome.statusCode}`;
      }

      if (!(await this.pauseBeforeRetry(attempts, options))) {
        this.logger.warn(`promo cancellation unavailable after ${attempts} attempt(s): ${lastError}`);

        return { status: 'unavailable', error: lastError };
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }

  /** One request; the answer, or a description of why there was none. */
  private async attempt(
    method: Dispatcher.HttpMethod,
    path: string,
    idempotencyKey: string,
    body: string | undefined,
    options: PromoCallOptions,
  ): Promise<Attempt | string> {
    const remaining = options.deadline - Date.now();
    if (remaining <= 0 || options.signal?.aborted) {
      return 'no time left for an attempt';
    }
    const timeoutMs = Math.max(1, Math.floor(Math.min(remaining, this.requestTimeoutMs)));
    const headers: Record<string, string> = { 'idempotency-key': idempotencyKey, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    if (this.token) {
      headers.authorization = `Bearer ${this.token}`;
    }
    try {
      const answer = await exchangeText(
        this.pool,
        { method, path: this.basePath + path, headers, body },
        options.signal,
        timeoutMs,
      );

      return { statusCode: answer.statusCode, body: parseJson(answer.text) };
    } catch (error) {
      if (error instanceof ExchangeAbortedError) {
        return error.timedOut ? `no answer within ${timeoutMs} ms` : 'aborted';
      }

      return `${REQUEST_FAILED}${describeError(error)}`;
    }
  }

  /** Waits before the next attempt; false when there is no time left for one. */
  private async pauseBeforeRetry(attempts: number, options: PromoCallOptions): Promise<boolean> {
    const ceiling = Math.min(this.initialBackoffMs * 2 ** (attempts - 1), this.maxBackoffMs);
    const pause = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    if (Date.now() + pause >= options.deadline || options.signal?.aborted) {
      return false;
    }
    try {
      await sleep(pause, undefined, { signal: options.signal });
    } catch {
      return false;
    }

    return true;
  }
}

function parseJson(text: string): unknown {
  if (text === '') {
    return null;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
