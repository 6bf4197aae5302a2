import { Reason, ReasonCode } from '@app/decisions';
import { describeError } from '@app/observability';
import {
  ActivationLedger,
  ActivationRequest,
  beginActivationsSql,
  BegunActivationRow,
  pooledQuery,
  StatementBatcher,
} from '@app/promo-activation';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** The committed answer to an earlier request for the same campaign occurrence and customer. */
export interface EarlierAnswer {
  decisionId: string;
  allowed: boolean;
  policy: string;
  reasons: Reason[];
}

/** Marks audit records of requests that could not be read; they answer nothing and are never repeated. */
export const INVALID_REQUEST_CODE: ReasonCode = 'INVALID_REQUEST';

interface Wanted {
  campaignId: string;
  customerId: string;
  /** Activations to reserve in the ledger unless an earlier answer is found. */
  activations: readonly ActivationRequest[];
}

interface EarlierRow {
  n: number;
  id: string;
  allowed: boolean;
  policy: string;
  reasons: Reason[];
}

/** A row of {@link FIND_EARLIER_AND_BEGIN}: an earlier answer's columns (`n` set) or a begun activation's. */
type FoundRow = { [K in keyof EarlierRow]: EarlierRow[K] | null } & {
  [K in keyof BegunActivationRow]: BegunActivationRow[K] | null;
};

/** What one look-up found. */
interface Found {
  earlier: EarlierRow | null;
  begun: BegunActivationRow[];
}

// The newest record per wanted (customer, campaign), through the customer index of each partition (a customer has
// few rows). Prepared once per connection: planning over every partition costs far more than running it. The wanted
// rows come as one JSON parameter, not as arrays: PostgreSQL sizes an array exactly in a custom plan, so a batch of
// one or two looked cheaper planned afresh than the generic plan, and every execution was planned again (measured:
// about 1 ms of planning a statement, more than the look-up itself); a JSON document's rows are estimated alike in
// both, so the generic plan wins after the first five executions.
// The campaign test is written so that no index can serve it: without statistics (a young table, or autovacuum
// off) the planner otherwise combines the campaign index with the customer index, and a campaign has millions of
// rows (measured: 2.7 ms a look-up at 50,000 rows of one campaign, against 0.01 ms through the customer index).
const FIND_EARLIER = `
  SELECT w.n, d.id, d.allowed, d.policy, d.reasons
  FROM jsonb_to_recordset($1::jsonb) AS w(n int, customer_id text, campaign_id text)
  CROSS JOIN LATERAL (
    SELECT id, allowed, policy, reasons FROM decisions
    WHERE customer_id = w.customer_id AND (campaign_id = w.campaign_id) IS TRUE AND flow = 'triggered'
      AND NOT ($2 = ANY (reason_codes))
    ORDER BY decided_at DESC, id DESC LIMIT 1
  ) d`;

// The same look-up, and in the same statement the ledger's begin of the activations of every request that has no
// earlier answer: one round trip and one commit instead of two for a request that goes on to activate. The begun
// rows come back with n NULL.
const FIND_EARLIER_AND_BEGIN = `
  WITH earlier AS MATERIALIZED (${FIND_EARLIER}),
  begun AS (${beginActivationsSql(`
    SELECT a.idempotency_key, a.flow, a.campaign_id, a.occurrence, a.customer_id, a.promo_code
    FROM jsonb_to_recordset($3::jsonb) AS a(n int, idempotency_key text, flow text, campaign_id text,
         occurrence text, customer_id text, promo_code text)
    WHERE NOT EXISTS (SELECT 1 FROM earlier e WHERE e.n = a.n)
    -- The ledger's lock order (see its compareKeys), so that this statement and a begin or an outcome batch of
    -- another replica never deadlock.
    ORDER BY a.idempotency_key COLLATE "C"`)})
  SELECT n, id, allowed, policy, reasons, NULL::text AS idempotency_key, NULL::text AS state,
         NULL::text AS activation_id, NULL::text AS rejection_reason, NULL::int AS attempts, NULL::text AS version
  FROM earlier
  UNION ALL
  SELECT NULL, NULL, NULL, NULL, NULL, idempotency_key, state, activation_id, rejection_reason, attempts, version
  FROM begun`;

/**
 * Finds the newest committed triggered decision for (campaign, customer), first in a bounded in-memory map of
 * answers this replica committed, then in `decisions`. Look-ups that arrive together share one statement. Given the
 * activation ledger, the statement also begins the activations a request would ask for (see `find`).
 */
export class EarlierAnswers {
  private readonly logger = new Logger(EarlierAnswers.name);
  private readonly recent = new Map<string, EarlierAnswer>();
  private readonly lookups: StatementBatcher<Wanted, Found>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly capacity: number,
    private readonly ledger: ActivationLedger | null = null,
  ) {
    this.lookups = new StatementBatcher((wanted) => this.findAll(wanted), { maxConcurrent: 1 });
  }

  /**
   * The earlier answer, or null. Without one, and with a ledger, the `activations` the request is about to ask for
   * are begun in the same statement and handed to the ledger (`ActivationLedger.adopt`): the caller then owes
   * `release(activations)` once its decision is made. Nothing is begun when the answer comes from memory or when the
   * statement fails (the ledger begins the keys itself when they are asked).
   */
  async find(
    campaignId: string,
    customerId: string,
    activations: readonly ActivationRequest[] = [],
  ): Promise<EarlierAnswer | null> {
    const cached = this.recent.get(keyOf(campaignId, customerId));
    if (cached !== undefined) {
      return cached;
    }
    const found = await this.lookups.submit({
      campaignId,
      customerId,
      activations: this.ledger === null ? [] : activations,
    });
    if (found.begun.length > 0) {
      this.ledger?.adopt(found.begun);
    }
    const row = found.earlier;
    if (row === null) {
      return null;
    }
    const answer: EarlierAnswer = {
      decisionId: row.id,
      allowed: row.allowed,
      policy: row.policy,
      reasons: row.reasons,
    };
    this.remember(campaignId, customerId, answer);

    return answer;
  }

  /** Ends what `find` began: activations never asked for are marked skipped in the ledger. */
  release(activations: readonly ActivationRequest[]): void {
    if (activations.length > 0) {
      this.ledger?.release(activations.map((activation) => activation.idempotencyKey));
    }
  }

  private async findAll(wanted: Wanted[]): Promise<Found[]> {
    const lookUp = [
      JSON.stringify(
        wanted.map((w, index) => ({ n: index + 1, customer_id: w.customerId, campaign_id: w.campaignId })),
      ),
      INVALID_REQUEST_CODE,
    ];
    const planned = new Map<string, { n: number; activation: ActivationRequest }>();
    wanted.forEach((w, index) => {
      for (const activation of w.activations) {
        if (!planned.has(activation.idempotencyKey)) {
          planned.set(activation.idempotencyKey, { n: index + 1, activation });
        }
      }
    });
    if (planned.size > 0) {
      try {
        return await this.findAndBegin(wanted, lookUp, planned);
      } catch (error) {
        // Perhaps the begin alone failed (the ledger refusing a key, say): the look-up is still worth its own
        // statement, and the ledger begins the keys itself when they are asked.
        this.logger.warn(`could not begin activations with the look-up: ${describeError(error)}`);
      }
    }
    const found: Found[] = wanted.map(() => ({ earlier: null, begun: [] }));
    for (const row of await pooledQuery<EarlierRow>(this.dataSource, 'gateway_find_earlier', FIND_EARLIER, lookUp)) {
      found[Number(row.n) - 1].earlier = row;
    }

    return found;
  }

  private async findAndBegin(
    wanted: Wanted[],
    lookUp: unknown[],
    planned: Map<string, { n: number; activation: ActivationRequest }>,
  ): Promise<Found[]> {
    const found: Found[] = wanted.map(() => ({ earlier: null, begun: [] }));
    const begins = [...planned.values()];
    const rows = await pooledQuery<FoundRow>(
      this.dataSource,
      'gateway_find_earlier_and_begin',
      FIND_EARLIER_AND_BEGIN,
      [
        ...lookUp,
        JSON.stringify(
          begins.map(({ n, activation }) => ({
            n,
            idempotency_key: activation.idempotencyKey,
            flow: activation.flow,
            campaign_id: activation.campaignId,
            occurrence: activation.occurrence,
            customer_id: activation.customerId,
            promo_code: activation.promoCode,
          })),
        ),
      ],
    );
    for (const row of rows) {
      if (row.n !== null) {
        found[Number(row.n) - 1].earlier = row as EarlierRow;
      } else if (row.idempotency_key !== null) {
        const begin = planned.get(row.idempotency_key);
        if (begin !== undefined) {
          found[begin.n - 1].begun.push(row as BegunActivationRow);
        }
      }
    }

    return found;
  }

  /** Notes an answer once its record is committed. */
  remember(campaignId: string, customerId: string, answer: EarlierAnswer): void {
    const key = keyOf(campaignId, customerId);
    this.recent.delete(key);
    if (this.recent.size >= this.capacity) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) {
        this.recent.delete(oldest.value);
      }
    }
    this.recent.set(key, answer);
  }
}

export function keyOf(campaignId: string, customerId: string): string {
  return `${campaignId}\u0000${customerId}`;
}
