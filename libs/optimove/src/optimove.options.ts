import type { Registry } from 'prom-client';
import type { RetryPolicy } from './retry.policy';

/** Paths of Optimove's functions, relative to {@link OptimoveClientOptions.apiUrl} (or the gateway base). */
export interface OptimovePaths {
  /** @default 'General/RegisterEventListener' */
  registerEventListener: string;
  /** @default 'General/UnregisterEventListener' */
  unregisterEventListener: string;
  /** @default 'General/GetRegisteredEventListeners' */
  getRegisteredEventListeners: string;
  /** Relative to {@link OptimoveClientOptions.gatewayApiUrl}. @default 'triggered_conditional_execution_gateway' */
  setTriggeredGateway: string;
  /** @default 'Customers/GetProcessedCampaignCustomers' */
  getProcessedCampaignCustomers: string;
  /** @default 'Integrations/UpdateCustomerPromotionStatus' */
  updateCustomerPromotionStatus: string;
}

export const DEFAULT_OPTIMOVE_PATHS: OptimovePaths = {
  registerEventListener: 'General/RegisterEventListener',
  unregisterEventListener: 'General/UnregisterEventListener',
  getRegisteredEventListeners: 'General/GetRegisteredEventListeners',
  setTriggeredGateway: 'triggered_conditional_execution_gateway',
  getProcessedCampaignCustomers: 'Customers/GetProcessedCampaignCustomers',
  updateCustomerPromotionStatus: 'Integrations/UpdateCustomerPromotionStatus',
};

/** Time limits of every Optimove call. */
export interface OptimoveTimeouts {
  /** TCP (and TLS) connection set-up. @default 5000 */
  connectMs: number;
  /** From sending a request to the end of the response headers. @default 30000 */
  headersMs: number;
  /** Longest silence while the response body streams. @default 30000 */
  bodyMs: number;
  /**
   * Deadline of one call, retries, backoff and rate-limit waits included; a call may pass a shorter one.
   * @default 120000
   */
  callMs: number;
}

/** Options of {@link OptimoveClient} (and of `OptimoveModule`); the app maps its configuration into them. */
export interface OptimoveClientOptions {
  /**
   * Base of the API including any path prefix, e.g. `https://api5.optimove.net/current`; the client appends
   * `/General/...`, `/Customers/...`, `/Integrations/...`.
   */
  apiUrl: string;
  /** Base of `PUT /triggered_conditional_execution_gateway`. @default the origin of `apiUrl` */
  gatewayApiUrl?: string;
  /** Sent as `X-API-KEY` on every call; never logged nor put in an error. */
  apiKey: string;
  /** IANA zone of Optimove's `YYYY-MM-DD HH:MM:SS` times (the site's zone). @default 'UTC' */
  timeZone?: string;
  /** Overrides of single function paths (the casing and grouping vary between Optimove's own pages). */
  paths?: Partial<OptimovePaths>;
  /**
   * Field names of the gateway PUT body, which Optimove's reference does not show.
   * @default { url: 'GatewayURL', timeout: 'Timeout' }
   */
  gatewayBodyFields?: { url?: string; timeout?: string };
  /** `$top` of each page of a campaign's target group, 1 to 10,000 (Optimove's maximum). @default 10000 */
  pageSize?: number;
  /**
   * Pages of the target group requested ahead of the one being consumed (1 = strictly one after another). The
   * memory held is at most this many pages plus the current one. @default 2
   */
  pagesInFlight?: number;
  /** Customers per UpdateCustomerPromotionStatus call, 1 to 10,000 (Optimove's maximum). @default 10000 */
  maxCustomersPerStatusUpdate?: number;
  /** Separator of a `CustomerAttribute` string in a target-group row. @default ';' */
  customerAttributesDelimiter?: string;
  /** @default see {@link OptimoveTimeouts} */
  timeouts?: Partial<OptimoveTimeouts>;
  /**
   * How long an idle pooled connection is kept; below the idle timeouts of common upstream load balancers and
   * servers (60 s and more), so the client never reuses a socket the other side is closing. @default 30000
   */
  keepAliveMs?: number;
  /** Connections per origin. @default 8 */
  connectionsPerOrigin?: number;
  /** @default see {@link RetryPolicy} */
  retry?: Partial<RetryPolicy>;
  /**
   * Client-side limit, a sliding window, so that the client does not earn 429s. Optimove counts per API key: with
   * several replicas sharing a key, give each its share. A permit frees up slightly after the window (2%, at least
   * 50 ms), because Optimove counts arrivals, not departures. `false` turns it off.
   * @default { requests: 50, windowMs: 10000 }
   */
  rateLimit?: { requests: number; windowMs: number } | false;
  /**
   * A 2xx whose body is a bare JSON string is read as an error message (classic Optimove endpoints answer errors
   * that way) on calls that expect no body. @default true
   */
  rejectStringBodyOnSuccess?: boolean;
  /** Registry for `optimove_*` metrics; a private one when absent. */
  registry?: Registry;
}

/** Options of `OptimoveModule.forRoot`/`forRootAsync`: those of the client. */
export type OptimoveModuleOptions = OptimoveClientOptions;
