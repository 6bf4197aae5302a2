export { CustomerIdSet } from './customer-id.set';
export { OPTIMOVE_MAX_BATCH, OptimoveClient } from './optimove.client';
export type {
  EventListenerRegistration,
  ProcessedCustomersPage,
  ProcessedCustomersStreamOptions,
  PromotionStatus,
  PromotionStatusChunk,
  PromotionStatusReport,
  PromotionStatusUpdateOptions,
  TriggeredGatewaySettings,
} from './optimove.client';
export {
  OptimoveAbortedError,
  OptimoveApiError,
  OptimoveError,
  OptimoveNetworkError,
  OptimoveResponseError,
  OptimoveTimeoutError,
} from './optimove.errors';
export type { OptimoveCall, OptimoveTimeoutPhase } from './optimove.errors';
export type { OptimoveRequestOutcome } from './optimove.metrics';
export { OptimoveModule } from './optimove.module';
export { OPTIMOVE_MODULE_OPTIONS } from './optimove.module-definition';
export { DEFAULT_OPTIMOVE_PATHS } from './optimove.options';
export type { OptimoveClientOptions, OptimoveModuleOptions, OptimovePaths, OptimoveTimeouts } from './optimove.options';
export {
  formatOptimoveTime,
  InvalidOptimoveTimeError,
  isValidTimeZone,
  parseOptimoveTime,
  timeZoneOffsetMs,
} from './optimove-time.util';
export type { ParseOptimoveTimeOptions, WallTimeDisambiguation } from './optimove-time.util';
export type { OptimoveCallOptions } from './optimove.transport';
export type { ProcessedCustomer, RegisteredEventListener } from './optimove.wire';
export type { RetryPolicy } from './retry.policy';
