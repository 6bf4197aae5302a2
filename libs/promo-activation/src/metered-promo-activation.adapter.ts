import { counter, histogram } from '@app/observability';
import { OnApplicationShutdown } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import {
  ActivationRequest,
  ActivationResult,
  CancellationResult,
  PromoActivationPort,
  PromoCallOptions,
} from './promo-activation.port';

/** Counts activations and cancellations by outcome, and times them; the wrapped adapter does the work. */
export class MeteredPromoActivationAdapter extends PromoActivationPort implements OnApplicationShutdown {
  private readonly calls: Counter<'call' | 'outcome'>;
  private readonly seconds: Histogram<'call'>;

  constructor(
    private readonly inner: PromoActivationPort,
    registry: Registry,
  ) {
    super();
    this.calls = counter(registry, {
      name: 'promo_requests_total',
      help: 'Activations and cancellations asked of the promo system, by outcome',
      labelNames: ['call', 'outcome'],
    });
    this.seconds = histogram(registry, {
      name: 'promo_request_duration_seconds',
      help: 'Latency of activations and cancellations, retries included',
      labelNames: ['call'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
  }

  async activate(request: ActivationRequest, options: PromoCallOptions): Promise<ActivationResult> {
    const stop = this.seconds.startTimer({ call: 'activate' });
    const result = await this.inner.activate(request, options);
    stop();
    this.calls.inc({ call: 'activate', outcome: result.status });

    return result;
  }

  async cancel(idempotencyKey: string, options: PromoCallOptions): Promise<CancellationResult> {
    const stop = this.seconds.startTimer({ call: 'cancel' });
    const result = await this.inner.cancel(idempotencyKey, options);
    stop();
    this.calls.inc({ call: 'cancel', outcome: result.status });

    return result;
  }

  async onApplicationShutdown(): Promise<void> {
    await (this.inner as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
  }
}
