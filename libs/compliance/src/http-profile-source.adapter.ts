import { describeError, ExchangeAbortedError, exchangeText, TextAnswer } from '@app/observability';
import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { Dispatcher, Pool } from 'undici';
import { Profile, toProfile } from './profile';
import {
  PROFILE_BATCH_LIMIT,
  ProfileLookupOptions,
  ProfileSourceError,
  ProfileSourcePort,
} from './profile-source.port';

/** Where and how the HTTP profile source is reached. */
export interface HttpProfileSourceOptions {
  /** Base URL of the profile source, e.g. `https://profiles.example.com/v1`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Limit on each call, from sending the request to reading the whole answer. @default 1000 */
  timeoutMs?: number;
  /** Connections kept to the source. @default 16 */
  connections?: number;
}

const DEFAULT_TIMEOUT_MS = 1000;

/**
 * The profile source over HTTP (`POST /profiles/batch`, `GET /profiles/{id}`), with keep-alive connections, an
 * explicit timeout on every call, and the caller's AbortSignal honoured.
 */
export class HttpProfileSourceAdapter extends ProfileSourcePort implements OnApplicationShutdown {
  private readonly logger = new Logger(HttpProfileSourceAdapter.name);
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(options: HttpProfileSourceOptions) {
    super();
    const base = new URL(options.url);
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.timeoutMs = Math.max(1, Math.round(options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    this.pool = new Pool(base.origin, {
      connections: options.connections ?? 16,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connectTimeout: this.timeoutMs,
    });
    this.headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (options.token) {
      this.headers.authorization = `Bearer ${options.token}`;
    }
  }

  async fetchProfiles(
    customerIds: readonly string[],
    options: ProfileLookupOptions = {},
  ): Promise<Map<string, Profile>> {
    if (customerIds.length > PROFILE_BATCH_LIMIT) {
      throw new RangeError(`at most ${PROFILE_BATCH_LIMIT} customers a batch, got ${customerIds.length}`);
    }
    const profiles = new Map<string, Profile>();
    if (customerIds.length === 0) {
      return profiles;
    }

    const body = await this.call('POST', '/profiles/batch', JSON.stringify({ customerIds }), options.signal);
    const list = (body as { profiles?: unknown } | null)?.profiles;
    if (!Array.isArray(list)) {
      throw new ProfileSourceError('profile source answered without a profiles array', 'failed');
    }
    for (const item of list) {
      const profile = toProfile(item);
      if (profile !== undefined) {
        profiles.set(profile.customerId, profile);
      }
    }

    return profiles;
  }

  async fetchProfile(customerId: string, options: ProfileLookupOptions = {}): Promise<Profile | null> {
    const body = await this.call('GET', `/profiles/${encodeURIComponent(customerId)}`, undefined, options.signal);
    if (body === null) {
      return null;
    }
    const profile = toProfile(body);
    if (profile === undefined) {
      throw new ProfileSourceError('profile source answered a profile without a customer id', 'failed');
    }

    return profile;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }

  /** One request; resolves the parsed JSON body, or null for 404; everything else is a {@link ProfileSourceError}. */
  private async call(
    method: Dispatcher.HttpMethod,
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let answer: TextAnswer;
    try {
      answer = await exchangeText(
        this.pool,
        { method, path: this.basePath + path, headers: this.headers, body },
        signal,
        this.timeoutMs,
      );
    } catch (error) {
      if (signal?.aborted || (error instanceof ExchangeAbortedError && !error.timedOut)) {
        throw new ProfileSourceError('profile look-up aborted', 'aborted', { cause: error });
      }
      const timedOut = error instanceof ExchangeAbortedError || isUndiciTimeout(error);
      const message = timedOut
        ? `profile source did not answer within ${this.timeoutMs} ms`
        : `profile source failed: ${describeError(error)}`;
      this.logger.warn(message);
      throw new ProfileSourceError(message, timedOut ? 'timeout' : 'failed', { cause: error });
    }
    if (answer.statusCode === 404 && method === 'GET') {
      return null;
    }
    if (answer.statusCode !== 200) {
      throw new ProfileSourceError(`profile source answered ${answer.statusCode}`, 'failed');
    }
    try {
      return JSON.parse(answer.text) as unknown;
    } catch (error) {
      // The parser's message quotes the answer, which holds customers' profiles: only its length is told.
      const message = `profile source answered invalid JSON (${answer.text.length} characters)`;
      this.logger.warn(message);
      throw new ProfileSourceError(message, 'failed', { cause: error });
    }
  }
}

function isUndiciTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;

  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}
