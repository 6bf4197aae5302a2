import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { Registry } from 'prom-client';
import { CustomerIdSet } from './customer-id.set';
import { parseJsonArrayInGroups } from './json-array.splitter';
import { OptimoveCall, OptimoveResponseError } from './optimove.errors';
import { OptimoveMetrics } from './optimove.metrics';
import { DEFAULT_OPTIMOVE_PATHS, OptimoveClientOptions, OptimovePaths, OptimoveTimeouts } from './optimove.options';
import { formatOptimoveTime, isValidTimeZone } from './optimove-time.util';
import { OptimoveCallOptions, OptimoveRequest, OptimoveTransport } from './optimove.transport';
import {
  ProcessedCustomer,
  PromotionStatusUpdateBody,
  readId,
  readProcessedCustomer,
  readRegisteredListener,
  RegisteredEventListener,
  toWireId,
  unwrapList,
} from './optimove.wire';
import { DEFAULT_RETRY_POLICY } from './retry.policy';
import { SlidingWindowRateLimiter } from './sliding-window.rate-limiter';

/** Optimove's largest page of customers and largest status update. */
export const OPTIMOVE_MAX_BATCH = 10_000;

const DEFAULT_TIMEOUTS: OptimoveTimeouts = { connectMs: 5_000, headersMs: 30_000, bodyMs: 30_000, callMs: 120_000 };

/** A listener to register: Optimove will call `listenerUrl` for events of `eventTypeId`. */
export interface EventListenerRegistration {
  eventTypeId: number;
  listenerUrl: string;
  /** Only for per-channel events (13); event 5 must be registered without one. */
  channelId?: number;
}

/** The conditional gateway of triggered campaigns. */
export interface TriggeredGatewaySettings {
  gatewayUrl: string;
  /** How long Optimove waits for the gateway's answer, 0 to 2500 ms. Omitted: Optimove's default. */
  timeoutMs?: number;
}

/** Options of {@link OptimoveClient.streamProcessedCampaignCustomers}. */
export interface ProcessedCustomersStreamOptions {
  /** `$skip` of the first page: the `nextOffset` of the last page stored before a restart. @default 0 */
  startOffset?: number;
  /** @default the client's `pageSize` */
  pageSize?: number;
  /** @default the client's `pagesInFlight` */
  pagesInFlight?: number;
  /** Customer attributes to ask for (`CustomerAttributes=A;B`). */
  customerAttributes?: string[];
  /**
   * The IDs already seen, to drop as duplicates; pass one pre-filled with the stored IDs when resuming, since a new
   * stream only knows the IDs it has read itself.
   */
  seen?: CustomerIdSet;
  /** Cancels the stream and the requests in flight. */
  signal?: AbortSignal;
  /** Deadline of each page's call. @default the client's `timeouts.callMs` */
  pageTimeoutMs?: number;
}

/** One page of a campaign's target group. */
export interface ProcessedCustomersPage {
  /** `$skip` this page was read with. */
  offset: number;
  /** `$skip` to resume from once this page is stored: `offset` plus the rows Optimove returned. */
  nextOffset: number;
  /** Rows in Optimove's answer. */
  received: number;
  /** The customers of this page not seen before, in Optimove's order. */
  customers: ProcessedCustomer[];
  /** Rows dropped because their customer ID was already seen. */
  duplicates: number;
  /** Rows dropped because they carry no usable customer ID. */
  malformed: number;
  /** True on the final page (shorter than the page size, possibly empty). */
  last: boolean;
}

/** One customer's approval (`true`) or refusal (`false`). */
export interface PromotionStatus {
  customerId: string | number;
  status: boolean;
}

/** Progress of {@link OptimoveClient.updateCustomerPromotionStatus}, after each call Optimove accepted. */
export interface PromotionStatusChunk {
  /** 0-based number of the call. */
  index: number;
  /** Customers in this call. */
  customers: number;
  /** Customers accepted by Optimove so far, this call included. */
  reported: number;
  /** `TimeStamp` sent. */
  timeStamp: string;
}

/** Options of {@link OptimoveClient.updateCustomerPromotionStatus}. */
export interface PromotionStatusUpdateOptions extends OptimoveCallOptions {
  /** Instant sent as `TimeStamp` (in the site's zone). @default the time each call is made */
  timestamp?: Date;
  /** @default the client's `maxCustomersPerStatusUpdate` */
  chunkSize?: number;
  /** Called after each call Optimove accepted, before the next is sent (e.g. to record what was reported). */
  onChunk?: (chunk: PromotionStatusChunk) => void | Promise<void>;
}

/** What {@link OptimoveClient.updateCustomerPromotionStatus} sent. */
export interface PromotionStatusReport {
  calls: number;
  customers: number;
}

/** A page as it waits to be consumed: raw bytes of a JSON array, or rows already parsed by the lenient path. */
type PageBody = { chunks: Buffer[] } | { rows: unknown[] };

function startsAsJsonArray(chunks: readonly Buffer[]): boolean {
  for (const chunk of chunks) {
    for (const byte of chunk) {
      if (byte > 0x20) {
        return byte === 0x5b;
      }
    }
  }

  return false;
}

function rowGroupsOf(body: PageBody): unknown[][] | undefined {
  return 'rows' in body ? [body.rows] : parseJsonArrayInGroups(body.chunks);
}

function assertInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }

  return value;
}

/**
 * Optimove counts requests as they arrive, the client as it sends them: a request may arrive a little sooner after
 * the one it replaces in the window than it was sent, so a permit frees up 2% (at least 50 ms) after the window.
 */
function paddedWindowMs(windowMs: number): number {
  return windowMs + Math.max(50, windowMs * 0.02);
}

function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, '');
}

function parseBaseUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`${name} must be http or https`);
  }

  return `${url.origin}/${trimSlashes(url.pathname)}`.replace(/\/+$/, '');
}

/**
 * The Optimove API as Conditional Execution needs it: listeners, the triggered gateway, a campaign's processed
 * customers (streamed page by page), and promotion statuses (chunked).
 *
 * Retry safety: every call here may be repeated after an unclear failure (429, 5xx, timeout, broken connection)
 * because each one is idempotent:
 * - the two GETs read only;
 * - UpdateCustomerPromotionStatus sets each listed customer's status (Optimove keeps the last one per customer and
 *   allows as many calls as needed); a repeat carries the same statuses and `TimeStamp`, and chunks go out one after
 *   another, so a repeat can never overtake a later change of the same customer;
 * - RegisterEventListener replaces the listener of its (EventTypeID, ChannelID), so a repeat leaves one listener
 *   (were it to add one instead, the service deduplicates notifications anyway);
 * - UnregisterEventListener ends in the same state however often it is sent, though a repeat of one that had
 *   landed may answer an error;
 * - the gateway PUT replaces the site's one gateway.
 * A 4xx other than 408/429 is final and never repeated.
 */
export class OptimoveClient implements OnApplicationShutdown {
  private readonly logger = new Logger(OptimoveClient.name);
  private readonly apiBase: string;
  private readonly gatewayBase: string;
  private readonly paths: OptimovePaths;
  private readonly transport: OptimoveTransport;
  /** IANA zone of Optimove's wall-clock times. */
  readonly timeZone: string;
  private readonly pageSize: number;
  private readonly pagesInFlight: number;
  private readonly chunkSize: number;
  private readonly delimiter: string;
  private readonly gatewayFields: { url: string; timeout: string };

  constructor(options: OptimoveClientOptions) {
    this.apiBase = parseBaseUrl('apiUrl', options.apiUrl);
    this.gatewayBase = options.gatewayApiUrl
      ? parseBaseUrl('gatewayApiUrl', options.gatewayApiUrl)
      : new URL(this.apiBase).origin;
    if (!options.apiKey) {
      throw new TypeError('apiKey is required');
    }
    this.timeZone = options.timeZone ?? 'UTC';
    if (!isValidTimeZone(this.timeZone)) {
      throw new RangeError(`timeZone ${this.timeZone} is not a known IANA zone`);
    }
    this.paths = { ...DEFAULT_OPTIMOVE_PATHS, ...options.paths };
    this.pageSize = assertInteger('pageSize', options.pageSize ?? OPTIMOVE_MAX_BATCH, 1, OPTIMOVE_MAX_BATCH);
    this.pagesInFlight = assertInteger('pagesInFlight', options.pagesInFlight ?? 2, 1, 16);
    this.chunkSize = assertInteger(
      'maxCustomersPerStatusUpdate',
      options.maxCustomersPerStatusUpdate ?? OPTIMOVE_MAX_BATCH,
      1,
      OPTIMOVE_MAX_BATCH,
    );
    this.delimiter = options.customerAttributesDelimiter ?? ';';
    this.gatewayFields = {
      url: options.gatewayBodyFields?.url ?? 'GatewayURL',
      timeout: options.gatewayBodyFields?.timeout ?? 'Timeout',
    };
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    assertInteger('retry.maxAttempts', retry.maxAttempts, 1, 20);
    const rateLimit = options.rateLimit ?? { requests: 50, windowMs: 10_000 };
    this.transport = new OptimoveTransport(
      {
        apiKey: options.apiKey,
        timeouts,
        retry,
        keepAliveMs: options.keepAliveMs ?? 30_000,
        connectionsPerOrigin: options.connectionsPerOrigin ?? 8,
        rejectStringBodyOnSuccess: options.rejectStringBodyOnSuccess ?? true,
      },
      new OptimoveMetrics(options.registry ?? new Registry()),
      rateLimit === false
        ? undefined
        : new SlidingWindowRateLimiter(rateLimit.requests, paddedWindowMs(rateLimit.windowMs)),
    );
  }

  /** `POST General/RegisterEventListener`. */
  async registerEventListener(listener: EventListenerRegistration, options?: OptimoveCallOptions): Promise<void> {
    const body: Record<string, unknown> = { EventTypeID: listener.eventTypeId, ListenerURL: listener.listenerUrl };
    if (listener.channelId !== undefined) {
      body.ChannelID = listener.channelId;
    }

    await this.transport.send(this.post('registerEventListener', body), options);
  }

  /** `POST General/UnregisterEventListener`. */
  async unregisterEventListener(
    listener: Omit<EventListenerRegistration, 'listenerUrl'>,
    options?: OptimoveCallOptions,
  ): Promise<void> {
    const body: Record<string, unknown> = { EventTypeID: listener.eventTypeId };
    if (listener.channelId !== undefined) {
      body.ChannelID = listener.channelId;
    }

    await this.transport.send(this.post('unregisterEventListener', body), options);
  }

  /** `GET General/GetRegisteredEventListeners`; rows without an event type or URL are left out. */
  async getRegisteredEventListeners(options?: OptimoveCallOptions): Promise<RegisteredEventListener[]> {
    const call: OptimoveCall = 'getRegisteredEventListeners';

    return this.transport.send(
      {
        call,
        method: 'GET',
        url: this.url(this.apiBase, this.paths.getRegisteredEventListeners),
        idempotent: true,
        read: (body, status) => {
          const rows = unwrapList(body);
          if (!rows) {
            throw new OptimoveResponseError(call, status, body, 'not a list');
          }

          return rows.map(readRegisteredListener).filter((row) => row !== undefined);
        },
      },
      options,
    );
  }

  /** `PUT triggered_conditional_execution_gateway` on the gateway base: replaces the site's gateway. */
  async setTriggeredGateway(gateway: TriggeredGatewaySettings, options?: OptimoveCallOptions): Promise<void> {
    const body: Record<string, unknown> = { [this.gatewayFields.url]: gateway.gatewayUrl };
    if (gateway.timeoutMs !== undefined) {
      body[this.gatewayFields.timeout] = assertInteger('timeoutMs', gateway.timeoutMs, 0, 2500);
    }

    await this.transport.send(
      {
        call: 'setTriggeredGateway',
        method: 'PUT',
        url: this.url(this.gatewayBase, this.paths.setTriggeredGateway),
        body,
        idempotent: true,
        read: () => undefined,
      },
      options,
    );
  }

  /**
   * One page of `GET Customers/GetProcessedCampaignCustomers` (`$top` = `limit`, `$skip` = `offset`), as raw rows.
   * Most callers want {@link streamProcessedCampaignCustomers}.
   */
  async fetchProcessedCustomerRows(
    campaignId: number | string,
    page: { offset: number; limit: number; customerAttributes?: string[] },
    options?: OptimoveCallOptions,
  ): Promise<unknown[]> {
    const body = await this.requestPage(campaignId, page, options, false);

    return 'rows' in body ? body.rows : [];
  }

  /**
   * One page request; with `lazy`, a body that starts as a plain JSON array stays raw bytes (outside the JS heap)
   * until it is consumed, so that prefetched pages are not thousands of objects old enough to reach the old heap.
   */
  private requestPage(
    campaignId: number | string,
    page: { offset: number; limit: number; customerAttributes?: string[] },
    options: OptimoveCallOptions | undefined,
    lazy: boolean,
  ): Promise<PageBody> {
    const call: OptimoveCall = 'getProcessedCampaignCustomers';
    let query = `CampaignID=${encodeURIComponent(String(campaignId))}&$top=${page.limit}&$skip=${page.offset}`;
    if (page.customerAttributes && page.customerAttributes.length > 0) {
      query += `&CustomerAttributes=${encodeURIComponent(page.customerAttributes.join(this.delimiter))}`;
      query += `&CustomerAttributesDelimiter=${encodeURIComponent(this.delimiter)}`;
    }

    return this.transport.send<PageBody>(
      {
        call,
        method: 'GET',
        url: `${this.url(this.apiBase, this.paths.getProcessedCampaignCustomers)}?${query}`,
        idempotent: true,
        readBytes: lazy ? (chunks) => (startsAsJsonArray(chunks) ? { chunks } : undefined) : undefined,
        read: (body, status) => {
          const rows = unwrapList(body);
          if (!rows) {
            throw new OptimoveResponseError(call, status, body, 'not a list of customers');
          }

          return { rows };
        },
      },
      options,
    );
  }

  /**
   * A campaign's target group as pages, read with `$top`/`$skip` until a page shorter than the page size (possibly
   * empty, which is then yielded too, as the `last` page). Up to `pagesInFlight` pages are requested ahead of the
   * one being consumed, so memory holds a few pages whatever the size of the group. Customer IDs already seen are
   * dropped (see {@link CustomerIdSet}). Breaking out of the loop cancels the requests in flight.
   */
  async *streamProcessedCampaignCustomers(
    campaignId: number | string,
    options: ProcessedCustomersStreamOptions = {},
  ): AsyncGenerator<ProcessedCustomersPage, void, undefined> {
    const pageSize = assertInteger('pageSize', options.pageSize ?? this.pageSize, 1, OPTIMOVE_MAX_BATCH);
    const ahead = assertInteger('pagesInFlight', options.pagesInFlight ?? this.pagesInFlight, 1, 16);
    let offset = assertInteger('startOffset', options.startOffset ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const seen = options.seen ?? new CustomerIdSet();
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const pending: Promise<PageBody>[] = [];
    const pageRequest = (pageOffset: number) => ({
      offset: pageOffset,
      limit: pageSize,
      customerAttributes: options.customerAttributes,
    });
    const callOptions = { signal, timeoutMs: options.pageTimeoutMs };
    let requestOffset = offset;
    let exhausted = false;
    const topUp = (): void => {
      while (!exhausted && pending.length < ahead) {
        const body = this.requestPage(campaignId, pageRequest(requestOffset), callOptions, true);
        body.catch(() => undefined);
        pending.push(body);
        requestOffset += pageSize;
      }
    };

    try {
      for (;;) {
        topUp();
        const body = await (pending.shift() as Promise<PageBody>);
        // A body that looked like an array but does not parse is fetched again through the checked, retried path.
        const groups = rowGroupsOf(body) ?? [
          await this.fetchProcessedCustomerRows(campaignId, pageRequest(offset), callOptions),
        ];
        const received = groups.reduce((sum, group) => sum + group.length, 0);
        const last = received < pageSize;
        if (last) {
          exhausted = true;
        } else {
          topUp();
        }
        if (received > pageSize) {
          this.logger.warn(`Optimove returned ${received} customers for $top=${pageSize}; paging may overlap`);
        }
        const page = this.readPage(groups, received, offset, seen);
        page.last = last;
        yield page;
        if (last) {
          return;
        }
        offset += pageSize;
      }
    } finally {
      stop.abort();
    }
  }

  /**
   * `POST Integrations/UpdateCustomerPromotionStatus` in calls of at most `chunkSize` customers, one after another,
   * each with `TimeStamp` in the site's zone. `statuses` is read lazily, so it may be a generator over a large set.
   * Stops at the first call that fails for good (the error says which call and what Optimove answered); `onChunk`
   * tells what was accepted before it.
   */
  async updateCustomerPromotionStatus(
    campaignId: number | string,
    statuses: Iterable<PromotionStatus> | AsyncIterable<PromotionStatus>,
    options: PromotionStatusUpdateOptions = {},
  ): Promise<PromotionStatusReport> {
    const chunkSize = assertInteger('chunkSize', options.chunkSize ?? this.chunkSize, 1, OPTIMOVE_MAX_BATCH);
    const report: PromotionStatusReport = { calls: 0, customers: 0 };
    let chunk: PromotionStatusUpdateBody['PromosUpdated'] = [];
    const flush = async (): Promise<void> => {
      const timeStamp = formatOptimoveTime(options.timestamp ?? new Date(), this.timeZone);
      const body: PromotionStatusUpdateBody = {
        TimeStamp: timeStamp,
        CampaignID: toWireId(campaignId),
        PromosUpdated: chunk,
      };
      await this.transport.send(this.post('updateCustomerPromotionStatus', body), options);
      report.calls++;
      report.customers += chunk.length;
      await options.onChunk?.({
        index: report.calls - 1,
        customers: chunk.length,
        reported: report.customers,
        timeStamp,
      });
      chunk = [];
    };

    for await (const entry of statuses) {
      const customerId = readId(entry.customerId);
      if (customerId === undefined || typeof entry.status !== 'boolean') {
        throw new TypeError(`invalid promotion status entry ${JSON.stringify(entry)}`);
      }
      chunk.push({ CustomerID: customerId, Status: entry.status });
      if (chunk.length === chunkSize) {
        await flush();
      }
    }
    if (chunk.length > 0) {
      await flush();
    }

    return report;
  }

  /** Closes the connection pools (waiting briefly for requests in flight). */
  async close(): Promise<void> {
    await this.transport.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private readPage(groups: unknown[][], received: number, offset: number, seen: CustomerIdSet): ProcessedCustomersPage {
    const page: ProcessedCustomersPage = {
      offset,
      nextOffset: offset + received,
      received,
      customers: [],
      duplicates: 0,
      malformed: 0,
      last: false,
    };
    for (const rows of groups) {
      for (const row of rows) {
        const customer = readProcessedCustomer(row, this.delimiter);
        if (!customer) {
          page.malformed++;
        } else if (seen.add(customer.customerId)) {
          page.customers.push(customer);
        } else {
          page.duplicates++;
        }
      }
    }

    return page;
  }

  private url(base: string, path: string): string {
    return `${base}/${trimSlashes(path)}`;
  }

  private post(call: OptimoveCall & keyof OptimovePaths, body: unknown): OptimoveRequest<void> {
    return {
      call,
      method: 'POST',
      url: this.url(this.apiBase, this.paths[call]),
      body,
      idempotent: true,
      read: () => undefined,
    };
  }
}
