import { CircuitBreakerOptions } from './circuit-breaker';

/** Options of `TriggeredGatewayModule`; the app maps `GATEWAY_*` and `PROMO_CONCURRENCY` into them. */
export interface TriggeredGatewayModuleOptions {
  /** The secret Optimove's calls carry as `?token=`; without it every call is answered 401. */
  token: string | undefined;
  /** Optimove's own timeout for the gateway, 0 to 2500 ms. @default 2000 */
  timeoutMs: number;
  /** The answer leaves no later than `timeoutMs - marginMs` after the request arrived. @default 250 */
  marginMs: number;
  /** Promo activations in flight for the gateway's engine. @default 32 */
  promoConcurrency?: number;
  /**
   * Time kept back from the checks for committing an approval before the answer is due. An approval whose checks
   * end with less than this left is denied with `TIMEOUT` instead of being committed late. @default 50
   */
  commitReserveMs?: number;
  /** Breaker around the profile source. */
  profileBreaker?: CircuitBreakerOptions;
  /** Breaker around the promo system. */
  promoBreaker?: CircuitBreakerOptions;
  /** Committed answers kept in memory for repeated requests, per replica. @default 10000 */
  answerCacheSize?: number;
}
