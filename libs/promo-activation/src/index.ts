export { ActivationLedger, beginActivationsSql } from './activation-ledger.repository';
export type { ActivationRecord, ActivationState, BegunActivationRow } from './activation-ledger.repository';
export { HttpPromoActivationAdapter } from './http-promo-activation.adapter';
export type { HttpPromoActivationOptions } from './http-promo-activation.adapter';
export { activationIdempotencyKey } from './idempotency-key';
export type { ActivationKeyParts } from './idempotency-key';
export { PromoActivationModule } from './promo-activation.module';
export type { PromoActivationModuleOptions } from './promo-activation.options';
export { pooledQuery } from './pooled-query';
export { PromoActivationPort } from './promo-activation.port';
export type {
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  PromoCallOptions,
  PromoFlow,
} from './promo-activation.port';
export { RecordingPromoActivationAdapter } from './recording-promo-activation.adapter';
export { StatementBatcher } from './statement-batcher';
export type { StatementBatcherOptions } from './statement-batcher';
