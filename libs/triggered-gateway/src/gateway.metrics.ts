import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BreakerState, CircuitBreaker } from './circuit-breaker';

const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };

/** The gateway's Prometheus metrics, registered once on the process registry. */
export class GatewayMetrics {
  private readonly latency: Histogram<'outcome'>;
  private readonly decisions: Counter<'outcome' | 'reason'>;
  private readonly unauthorized: Counter;
  private readonly lateApprovals: Counter;
  private readonly breakerTransitions: Counter<'dependency' | 'state'>;
  private readonly breakers: { dependency: string; breaker: CircuitBreaker }[] = [];

  constructor(registry: Registry) {
    const registers = [registry];
    this.latency = new Histogram({
      name: 'gateway_request_duration_seconds',
      help: 'Time from the arrival of a gateway request to its answer, by outcome (allowed, denied, invalid).',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5],
      registers,
    });
    this.decisions = new Counter({
      name: 'gateway_decisions_total',
      help: 'Gateway answers by outcome and first reason code (NONE for approvals).',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.unauthorized = new Counter({
      name: 'gateway_unauthorized_total',
      help: 'Gateway requests refused with 401 for a wrong or missing token.',
      registers,
    });
    this.lateApprovals = new Counter({
      name: 'gateway_late_approvals_total',
      help: 'Approvals whose commit finished after the answer false had left; each got a superseding TIMEOUT record.',
      registers,
    });
    const breakers = this.breakers;
    new Gauge({
      name: 'gateway_breaker_state',
      help: 'Circuit breaker state per dependency: 0 closed, 1 open, 2 half-open.',
      labelNames: ['dependency'],
      registers,
      // Read at scrape time: an open circuit whose time is up is half-open even if no call has asked yet.
      collect() {
        for (const { dependency, breaker } of breakers) {
          this.set({ dependency }, BREAKER_STATE_VALUE[breaker.state]);
        }
      },
    });
    this.breakerTransitions = new Counter({
      name: 'gateway_breaker_transitions_total',
      help: 'Circuit breaker state changes per dependency and new state.',
      labelNames: ['dependency', 'state'],
      registers,
    });
  }

  answered(outcome: 'allowed' | 'denied' | 'invalid', reason: string, elapsedMs: number): void {
    this.latency.observe({ outcome }, elapsedMs / 1000);
    this.decisions.inc({ outcome, reason });
  }

  refused(): void {
    this.unauthorized.inc();
  }

  lateApproval(): void {
    this.lateApprovals.inc();
  }

  /** Exposes a breaker's state as `gateway_breaker_state{dependency}`. */
  watch(dependency: 'profile' | 'promo', breaker: CircuitBreaker): void {
    this.breakers.push({ dependency, breaker });
  }

  breakerChanged(dependency: 'profile' | 'promo', state: BreakerState): void {
    this.breakerTransitions.inc({ dependency, state });
  }
}
