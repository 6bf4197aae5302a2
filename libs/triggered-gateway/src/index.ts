export type { GatewayOutcome } from './answer-slot';
export { AnswerSlot } from './answer-slot';
export { BreakingProfileSourceAdapter } from './breaking-profile-source.adapter';
export { BreakingPromoActivationAdapter } from './breaking-promo-activation.adapter';
export { CircuitBreaker } from './circuit-breaker';
export type { BreakerPermit, BreakerState, CircuitBreakerOptions } from './circuit-breaker';
export { EarlierAnswers, INVALID_REQUEST_CODE } from './earlier-answers.repository';
export { parseGatewayRequest } from './gateway-request';
export type { GatewayRequest, GatewayRequestParse, InvalidGatewayRequest } from './gateway-request';
export { GatewayTokenVerifier } from './gateway-token';
export { GATEWAY_OPENAPI_PATHS } from './gateway.openapi';
export { GATEWAY_ENGINE, TriggeredGatewayModule } from './triggered-gateway.module';
export type { TriggeredGatewayModuleOptions } from './triggered-gateway.options';
export {
  DRAINING_DECORATOR,
  EARLY_ANSWER,
  GATEWAY_PATH,
  TriggeredGateway,
  UNKNOWN_CUSTOMER_ID,
} from './triggered-gateway.service';
export type { Arrival, GatewayReply } from './triggered-gateway.service';
