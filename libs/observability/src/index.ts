export { counter, gauge, histogram } from './metric-factory';
export { MetricsModule } from './metrics.module';
export { redactUrl, REDACTED_LOG_PATHS } from './redaction';
export { exchangeText, ExchangeAbortedError, TextAnswer } from './text-exchange';
export { describeError } from './describe-error';
