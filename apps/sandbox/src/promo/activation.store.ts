import { hash32 } from '../common/hash.util';

export type ActivationState = 'in_flight' | 'activated' | 'rejected' | 'cancelled';

export interface ActivationRequest {
  customerId: string;
  promoCode: string | null;
  campaignId: string;
  flow: string | null;
}

/** One idempotency key's activation; kept small because a benchmark stores a million of them. */
export class Activation {
  constructor(
    readonly customerId: string,
    readonly promoCode: string | null,
    readonly campaignId: string,
    readonly flow: string | null,
    public state: ActivationState,
    readonly seq: number,
    public reason: string | null = null,
  ) {}

  get activationId(): string {
    return `act-${this.seq}`;
  }

  sameRequest(request: ActivationRequest): boolean {
    return (
      this.customerId === request.customerId &&
      this.promoCode === request.promoCode &&
      this.campaignId === request.campaignId &&
      this.flow === request.flow
    );
  }
}

/** Promo activations keyed by idempotency key. Repeated strings (codes, campaigns, flows) are shared. */
export class ActivationStore {
  readonly byKey = new Map<string, Activation>();
  private readonly interned = new Map<string, string>();
  private seq = 0;

  private intern(text: string | null): string | null {
    if (text === null) {
      return null;
    }
    const known = this.interned.get(text);
    if (known !== undefined) {
      return known;
    }
    if (this.interned.size < 100_000) {
      this.interned.set(text, text);
    }

    return text;
  }

  start(key: string, request: ActivationRequest): Activation {
    const activation = new Activation(
      request.customerId,
      this.intern(request.promoCode),
      this.intern(request.campaignId) ?? request.campaignId,
      this.intern(request.flow),
      'in_flight',
      ++this.seq,
    );
    this.byKey.set(key, activation);

    return activation;
  }

  clear(): void {
    this.byKey.clear();
    this.interned.clear();
    this.seq = 0;
  }

  /** Counts by state, and how many (customer, code, campaign) triples were activated under more than one key. */
  summary(): Record<string, number> {
    const counts = { count: this.byKey.size, active: 0, cancelled: 0, rejected: 0, inFlight: 0, duplicates: 0 };
    const seen = new Set<string>();
    for (const activation of this.byKey.values()) {
      switch (activation.state) {
        case 'activated':
          counts.active++;
          break;
        case 'cancelled':
          counts.cancelled++;
          break;
        case 'rejected':
          counts.rejected++;
          break;
        case 'in_flight':
          counts.inFlight++;
          break;
      }
      if (activation.state === 'activated' || activation.state === 'cancelled') {
        const triple = `${activation.customerId}\u0000${activation.promoCode ?? ''}\u0000${activation.campaignId}`;
        if (seen.has(triple)) {
          counts.duplicates++;
        } else {
          seen.add(triple);
        }
      }
    }

    return counts;
  }
}

/** Deterministic draw in [0, 1) for a request, so that a retried request meets the same fate. */
export function requestDraw(request: ActivationRequest): number {
  return hash32(`${request.customerId}|${request.promoCode ?? ''}|${request.campaignId}`, 0x9e3779b9) / 4294967296;
}
