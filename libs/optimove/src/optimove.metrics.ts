import { Counter, Histogram, Registry } from 'prom-client';

/** The result of one HTTP request to Optimove, the `outcome` label. */
export type OptimoveRequestOutcome =
  | 'success'
  | 'client_error'
  | 'rate_limited'
  | 'server_error'
  | 'malformed_response'
  | 'timeout'
  | 'network_error'
  | 'aborted';

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** The client's metrics, registered once per registry so that several clients may share one. */
export class OptimoveMetrics {
  readonly requests: Counter<'call' | 'outcome'>;
  readonly duration: Histogram<'call'>;
  readonly retries: Counter<'call'>;
  readonly rateLimitWait: Histogram<'call'>;

  constructor(registry: Registry) {
    this.requests = getOrCreate(
      registry,
      'optimove_requests_total',
      () =>
        new Counter({
          name: 'optimove_requests_total',
          help: 'HTTP requests to Optimove by call and outcome (each retry counts)',
          labelNames: ['call', 'outcome'],
          registers: [registry],
        }),
    );
    this.duration = getOrCreate(
      registry,
      'optimove_request_duration_seconds',
      () =>
        new Histogram({
          name: 'optimove_request_duration_seconds',
          help: 'Duration of one HTTP request to Optimove, body included',
          labelNames: ['call'],
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    );
    this.retries = getOrCreate(
      registry,
      'optimove_retries_total',
      () =>
        new Counter({
          name: 'optimove_retries_total',
          help: 'Optimove requests repeated after a retryable failure',
          labelNames: ['call'],
          registers: [registry],
        }),
    );
    this.rateLimitWait = getOrCreate(
      registry,
      'optimove_rate_limit_wait_seconds',
      () =>
        new Histogram({
          name: 'optimove_rate_limit_wait_seconds',
          help: 'Time a request waited for the client-side rate limit',
          labelNames: ['call'],
          buckets: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        }),
    );
  }
}
