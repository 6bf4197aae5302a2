import {
  defaultFaults,
  FastAnswer,
  FaultSettings,
  isRecord,
  mergeFaults,
  StandInServer,
} from '../common/stand-in.server';
import { Activation, ActivationRequest, ActivationStore, requestDraw } from './activation.store';

export interface PromoStandInOptions {
  token?: string;
}

/** Promo-specific misbehaviour, on top of the shared faults. */
export interface PromoFaults {
  /** Fraction of (customer, code, campaign) triples rejected with 422; the same triple always meets the same fate. */
  rejectRate: number;
  rejectCustomerIds: Set<string>;
  /** Customers whose activation takes `slowMs` longer (the key stays in flight meanwhile). */
  slowCustomerIds: Set<string>;
  slowMs: number;
  /** Fraction of activations that succeed but whose answer is lost as a 500. */
  lostReplyRate: number;
}

function defaultPromoFaults(): PromoFaults {
  return { rejectRate: 0, rejectCustomerIds: new Set(), slowCustomerIds: new Set(), slowMs: 3_000, lostReplyRate: 0 };
}

interface KeyParams {
  key: string;
}

function readRequest(body: unknown): ActivationRequest | string {
  if (!isRecord(body)) {
    return 'body must be a JSON object';
  }
  const { customerId, promoCode, campaignId, flow } = body;
  if (typeof customerId !== 'string' || customerId === '') {
    return 'customerId must be a non-empty string';
  }
  if (promoCode !== undefined && promoCode !== null && typeof promoCode !== 'string') {
    return 'promoCode must be a string or null';
  }
  if (typeof campaignId !== 'string' && typeof campaignId !== 'number') {
    return 'campaignId must be a string or a number';
  }
  if (flow !== undefined && flow !== null && typeof flow !== 'string') {
    return 'flow must be a string';
  }

  return { customerId, promoCode: promoCode ?? null, campaignId: String(campaignId), flow: flow ?? null };
}

function describe(key: string, activation: Activation): Record<string, unknown> {
  return {
    idempotencyKey: key,
    activationId: activation.activationId,
    state: activation.state,
    reason: activation.reason,
    customerId: activation.customerId,
    promoCode: activation.promoCode,
    campaignId: activation.campaignId,
    flow: activation.flow,
  };
}

/** The brand's promo system: idempotent activations by key, cancellation, and switchable latency and rejections. */
export class PromoStandIn {
  readonly server: StandInServer;
  readonly store = new ActivationStore();
  private promoFaults = defaultPromoFaults();
  private calls = { activations: 0, replays: 0, inFlightConflicts: 0, keyReuses: 0, cancellations: 0 };

  constructor(options: PromoStandInOptions) {
    this.server = new StandInServer({
      errorBody: (_status, message) => ({ error: message }),
      latencyInHook: false,
      token: options.token,
    });
    this.installApi();
    this.installControl();
  }

  private installApi(): void {
    const app = this.server.app;

    app.post('/activations', async (req, reply) => {
      const answer = await this.activate(req.body, req.headers['idempotency-key']);

      return reply.code(answer.status).send(answer.body);
    });
    this.server.addFastRoute('POST', '/activations', (body, headers) =>
      this.activate(body, headers['idempotency-key']),
    );

    app.delete<{ Params: KeyParams }>('/activations/:key', async (req, reply) => {
      const activation = this.store.byKey.get(req.params.key);
      if (!activation || activation.state === 'rejected') {
        return reply.code(404).send({ error: 'nothing was activated under this key' });
      }
      if (activation.state === 'in_flight') {
        return reply.code(409).send({ error: 'the activation is still in flight' });
      }
      if (activation.state === 'activated') {
        activation.state = 'cancelled';
        this.calls.cancellations++;
      }

      return reply.code(200).send({ activationId: activation.activationId, status: 'cancelled' });
    });
  }

  private async activate(body: unknown, key: string | string[] | undefined): Promise<FastAnswer> {
    this.calls.activations++;
    if (typeof key !== 'string' || key.trim() === '') {
      return { status: 400, body: { error: 'the Idempotency-Key header is required' } };
    }
    const request = readRequest(body);
    if (typeof request === 'string') {
      return { status: 400, body: { error: request } };
    }
    const known = this.store.byKey.get(key);
    if (known) {
      return this.replay(known, request);
    }

    const activation = this.store.start(key, request);
    const faults = this.promoFaults;
    const slow = faults.slowCustomerIds.has(request.customerId) ? faults.slowMs : 0;
    await this.server.sleep(this.server.faults.latencyMs + slow);

    if (faults.rejectCustomerIds.has(request.customerId)) {
      activation.state = 'rejected';
      activation.reason = 'customer_not_eligible';
    } else if (faults.rejectRate > 0 && requestDraw(request) < faults.rejectRate) {
      activation.state = 'rejected';
      activation.reason = 'promotion_rejected';
    } else {
      activation.state = 'activated';
    }
    if (faults.lostReplyRate > 0 && Math.random() < faults.lostReplyRate) {
      return { status: 500, body: { error: 'Injected fault after the activation' } };
    }

    return activation.state === 'activated'
      ? { status: 201, body: { activationId: activation.activationId, status: 'activated' } }
      : { status: 422, body: { reason: activation.reason } };
  }

  private replay(known: Activation, request: ActivationRequest): FastAnswer {
    if (!known.sameRequest(request)) {
      this.calls.keyReuses++;

      return {
        status: 422,
        body: { reason: 'idempotency_key_reused', error: 'the key was used with another payload' },
      };
    }
    switch (known.state) {
      case 'in_flight':
        this.calls.inFlightConflicts++;

        return { status: 409, body: { error: 'an activation with this key is in progress' } };
      case 'activated':
        this.calls.replays++;

        return { status: 200, body: { activationId: known.activationId, status: 'activated' } };
      case 'rejected':
        this.calls.replays++;

        return { status: 422, body: { reason: known.reason } };
      case 'cancelled':
        return { status: 422, body: { reason: 'activation_cancelled' } };
    }
  }

  private installControl(): void {
    const app = this.server.app;

    app.get<{ Querystring: Record<string, string> }>('/control/activations', (req) => {
      const { customerId, campaignId, state } = req.query;
      const limit = Math.min(Number(req.query.limit ?? 1000) || 1000, 100_000);
      const summary = { ...this.store.summary(), calls: this.calls };
      if (customerId === undefined && campaignId === undefined && state === undefined) {
        return summary;
      }
      const items: Record<string, unknown>[] = [];
      for (const [key, activation] of this.store.byKey) {
        if (items.length >= limit) {
          break;
        }
        if (
          (customerId === undefined || activation.customerId === customerId) &&
          (campaignId === undefined || activation.campaignId === campaignId) &&
          (state === undefined || activation.state === state)
        ) {
          items.push(describe(key, activation));
        }
      }

      return { ...summary, items };
    });

    app.get<{ Params: KeyParams }>('/control/activations/:key', async (req, reply) => {
      const activation = this.store.byKey.get(req.params.key);

      return activation ? describe(req.params.key, activation) : reply.code(404).send({ error: 'unknown key' });
    });

    app.get('/control/faults', () => this.describeFaults());
    app.put('/control/faults', async (req, reply) => {
      const shared = mergeFaults(this.server.faults, req.body);
      if (typeof shared === 'string') {
        return reply.code(400).send({ error: shared });
      }
      const promo = mergePromoFaults(this.promoFaults, req.body as Record<string, unknown>);
      if (typeof promo === 'string') {
        return reply.code(400).send({ error: promo });
      }
      this.applyFaults(shared, promo);

      return this.describeFaults();
    });
    app.delete('/control/faults', () => {
      this.applyFaults(defaultFaults(), defaultPromoFaults());

      return this.describeFaults();
    });

    app.post('/control/reset', () => {
      this.store.clear();
      this.calls = { activations: 0, replays: 0, inFlightConflicts: 0, keyReuses: 0, cancellations: 0 };
      this.applyFaults(defaultFaults(), defaultPromoFaults());

      return { reset: true };
    });
  }

  private applyFaults(shared: FaultSettings, promo: PromoFaults): void {
    this.server.faults = shared;
    this.promoFaults = promo;
    if (shared.outage !== 'blackhole') {
      this.server.releaseHeld();
    }
  }

  private describeFaults(): Record<string, unknown> {
    const promo = this.promoFaults;

    return {
      ...this.server.faults,
      rejectRate: promo.rejectRate,
      rejectCustomerIds: [...promo.rejectCustomerIds],
      slowCustomerIds: [...promo.slowCustomerIds],
      slowMs: promo.slowMs,
      lostReplyRate: promo.lostReplyRate,
    };
  }
}

function mergePromoFaults(current: PromoFaults, body: Record<string, unknown>): PromoFaults | string {
  const next: PromoFaults = { ...current };
  const rate = (name: 'rejectRate' | 'lostReplyRate'): string | undefined => {
    const value = body[name];
    if (value === undefined) {
      return undefined;
    }
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      return `${name} must be a number from 0 to 1`;
    }
    next[name] = value;

    return undefined;
  };
  const ids = (name: 'rejectCustomerIds' | 'slowCustomerIds'): string | undefined => {
    const value = body[name];
    if (value === undefined) {
      return undefined;
    }
    if (!Array.isArray(value) || value.some((id) => typeof id !== 'string')) {
      return `${name} must be an array of strings`;
    }
    next[name] = new Set(value as string[]);

    return undefined;
  };
  const problem = rate('rejectRate') ?? rate('lostReplyRate') ?? ids('rejectCustomerIds') ?? ids('slowCustomerIds');
  if (problem) {
    return problem;
  }
  if (body.slowMs !== undefined) {
    if (typeof body.slowMs !== 'number' || !(body.slowMs >= 0)) {
      return 'slowMs must be a number >= 0';
    }
    next.slowMs = body.slowMs;
  }

  return next;
}
