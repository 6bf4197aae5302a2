import { rowsOf } from '@app/database';
import { DataSource } from 'typeorm';
import { pooledQuery } from './pooled-query';
import { ActivationRequest } from './promo-activation.port';
import { StatementBatcher } from './statement-batcher';

/**
 * States of a row of `promo_activations`. `skipped`: reserved ahead of the customer's checks (see
 * {@link ActivationLedger.adopt}), which denied the customer; nothing was asked of the promo system under the key.
 */
export type ActivationState =
  | 'pending'
  | 'activated'
  | 'rejected'
  | 'unavailable'
  | 'cancelling'
  | 'cancelled'
  | 'skipped';

/** What the ledger knows of one key. */
export interface ActivationRecord {
  idempotencyKey: string;
  state: ActivationState;
  activationId: string | null;
  rejectionReason: string | null;
  attempts: number;
}

/** A row as the ledger's begin returns it. */
export interface BegunActivationRow {
  idempotency_key: string;
  state: ActivationState;
  activation_id: string | null;
  rejection_reason: string | null;
  attempts: number;
  /** The row version this begin left (its xmin): a later skip applies only while the row is still this version. */
  version: string;
}

type ActivationRow = Omit<BegunActivationRow, 'version'>;

function toRecord(row: ActivationRow): ActivationRecord {
  return {
    idempotencyKey: row.idempotency_key,
    state: row.state,
    activationId: row.activation_id,
    rejectionReason: row.rejection_reason,
    attempts: row.attempts,
  };
}

/**
 * The order in which every statement that locks several rows of the ledger locks them, so that two of them never
 * deadlock: code-unit order, which for the keys (ASCII) is also PostgreSQL's `COLLATE "C"` order.
 */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The final state of one activation attempt, as recorded after the promo system answered (or was not asked). */
interface Outcome {
  key: string;
  state: 'activated' | 'rejected' | 'unavailable' | 'skipped';
  activationId: string | null;
  reason: string | null;
  error: string | null;
  attempts: number;
  /** For a skip: the row version the skipping caller's begin left (see {@link BegunActivationRow.version}). */
  version?: string;
}

/**
 * The ledger's begin, as one INSERT over the rows that `source` selects (idempotency_key, flow, campaign_id,
 * occurrence, customer_id, promo_code): each key is inserted as pending, or its row returned as it is; a row left
 * `skipped` becomes pending again, since an activation is about to be asked under it. Returns
 * {@link BegunActivationRow}s. Every begin of an existing key writes a new row version, even one that changes
 * nothing: that is what lets a skip tell that someone began the key after the skip's own begin. Exported so that a
 * caller's own statement can carry the begin as a CTE (the gateway's look-up of earlier answers does), the semantics
 * staying here.
 */
export function beginActivationsSql(source: string): string {
  return `
  INSERT INTO promo_activations AS p (idempotency_key, flow, campaign_id, occurrence, customer_id, promo_code)
  ${source}
  ON CONFLICT (idempotency_key) DO UPDATE
    SET state = CASE WHEN p.state = 'skipped' THEN 'pending' ELSE p.state END,
        updated_at = CASE WHEN p.state = 'skipped' THEN now() ELSE p.updated_at END
  RETURNING p.idempotency_key, p.state, p.activation_id, p.rejection_reason, p.attempts, p.xmin::text AS version`;
}

const BEGIN_ACTIVATIONS = beginActivationsSql(
  'SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])',
);

// activated and rejected follow pending, skipped or unavailable; unavailable follows pending or skipped, so that an
// outcome written behind never overtakes a cancellation (cancelling) that was recorded first. skipped follows pending
// only, and only while the row is still the version the skipping caller's begin left: a begin since then (another
// replica's, or a new request's here) may be asking the promo system under the key, and the row stays pending for
// it. A begin from before may be asking too: its outcome lands on the skipped row, and a cancellation of the key
// marks it cancelling, as it would a pending one.
// The commit does not wait for its WAL flush (synchronous_commit off, for this transaction only): the next synchronous
// commit (a decision, say) makes it durable too. Should the database crash before, the row stays pending, as when an
// outcome cannot be written at all, and the same key is asked again. This saves a disk flush per batch.
// It runs unnamed, so planned against the table as it is now: a plan prepared once on a connection opened while the
// table was empty scans the whole table for every batch ever after (measured: 1 ms a batch at 10,000 rows).
const RECORD_OUTCOMES = `
  WITH relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)
  UPDATE promo_activations p
  SET state = o.state,
      activation_id = CASE WHEN o.state = 'activated' THEN o.activation_id ELSE p.activation_id END,
      rejection_reason = CASE WHEN o.state = 'rejected' THEN o.reason ELSE p.rejection_reason END,
      last_error = CASE o.state WHEN 'activated' THEN NULL WHEN 'unavailable' THEN o.error ELSE p.last_error END,
      activated_at = CASE WHEN o.state = 'activated' THEN now() ELSE p.activated_at END,
      attempts = p.attempts + o.attempts,
      updated_at = now()
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[])
       AS o(idempotency_key, state, activation_id, reason, error, attempts, version), relaxed
  WHERE p.idempotency_key = o.idempotency_key
    AND ((p.state = 'pending' AND (o.state <> 'skipped' OR p.xmin = o.version::xid))
         OR (p.state = 'skipped' AND o.state <> 'skipped')
         OR (p.state = 'unavailable' AND o.state IN ('activated', 'rejected')))`;

/** Tuning of {@link ActivationLedger}. */
export interface ActivationLedgerOptions {
  /**
   * How long outcomes wait to share a statement. Nobody waits on an outcome's write (see `markActivated`), so it
   * can linger: one statement then carries the outcomes of many activations (the statement is planned afresh each
   * time, about 0.3 ms, so fewer of them save the database more than the rows cost). @default 100
   */
  outcomeLingerMs?: number;
}

/**
 * The `promo_activations` table: one row per idempotency key and its state transitions,
 * pending → activated | rejected | unavailable, then activated | unavailable | pending → cancelling → cancelled;
 * pending → skipped for a key reserved ahead of checks that then denied the customer (skipped → pending when begun,
 * skipped → cancelling should a cancellation arrive for it).
 * A row left `unavailable` or `cancelling` may hide an activation that landed late; `findCancelling` lists the latter
 * for a sweeper.
 *
 * The pending row is the promise that an activation can always be found again, so `begin` resolves only once it is
 * committed. Outcomes are written behind: `markActivated` and its siblings return at once and the write follows
 * within `outcomeLingerMs`, many outcomes to a statement. Until it lands, this ledger answers `begin` for the key from
 * memory; another replica sees the row still pending and asks the promo system again under the same key, which the
 * promo contract answers as already activated. `flush` writes what waits (shutdown calls it).
 */
export class ActivationLedger {
  private readonly begins: StatementBatcher<ActivationRequest, ActivationRecord>;
  private readonly outcomes: StatementBatcher<Outcome, void>;
  /** Outcomes submitted and not yet written, by key: what `begin` answers meanwhile. */
  private readonly unwritten = new Map<string, Outcome>();
  /** Rows a caller's own statement began (see `adopt`), by key, until `begin` takes them or `release` drops them. */
  private readonly adopted = new Map<string, BegunActivationRow>();

  constructor(
    private readonly dataSource: DataSource,
    options: ActivationLedgerOptions = {},
  ) {
    // Every begin is its own commit, so one WAL flush each; batched, concurrent activations share the statement and
    // the flush. A caller still resumes only once its row is committed.
    this.begins = new StatementBatcher((requests) => this.beginAll(requests), { maxConcurrent: 1 });
    this.outcomes = new StatementBatcher((outcomes) => this.recordAll(outcomes), {
      maxConcurrent: 1,
      lingerMs: options.outcomeLingerMs ?? 100,
    });
  }

  /**
   * Inserts the key as pending, or returns the row that already holds it; resolves once the row is committed.
   * A key adopted from a caller's statement is answered from that row, without a statement of its own.
   */
  async begin(request: ActivationRequest): Promise<ActivationRecord> {
    const adopted = this.adopted.get(request.idempotencyKey);
    if (adopted !== undefined) {
      this.adopted.delete(request.idempotencyKey);
    }
    const record = adopted !== undefined ? toRecord(adopted) : await this.begins.submit(request);
    const unwritten = this.unwritten.get(request.idempotencyKey);
    if (
      unwritten === undefined ||
      unwritten.state === 'skipped' ||
      (record.state !== 'pending' && record.state !== 'unavailable')
    ) {
      return record;
    }

    return {
      ...record,
      state: unwritten.state,
      activationId: unwritten.activationId ?? record.activationId,
      rejectionReason: unwritten.reason ?? record.rejectionReason,
    };
  }

  /**
   * Takes rows that a caller's own committed statement began through {@link beginActivationsSql}, ahead of the checks
   * that decide whether the activations are asked at all: `begin` answers those keys from these rows. Every key
   * adopted must be given to `release` once the caller is done with it. The rows are a snapshot: a cancellation that
   * another replica begins for a key meanwhile is not seen (see the README).
   */
  adopt(rows: readonly BegunActivationRow[]): void {
    for (const row of rows) {
      this.adopted.set(row.idempotency_key, row);
    }
  }

  /**
   * Ends the adoption of keys: those `begin` never took were not asked of the promo system, and their rows, where
   * pending, are marked skipped (written behind), unless the key was begun again since. Keys that were not adopted
   * are ignored.
   */
  release(keys: readonly string[]): void {
    for (const key of keys) {
      const row = this.adopted.get(key);
      if (row === undefined) {
        continue;
      }
      this.adopted.delete(key);
      if (row.state === 'pending') {
        // Should the write fail, the row stays pending, which the next begin of the key treats as a key to ask again.
        void this.writeBehind({
          key,
          state: 'skipped',
          activationId: null,
          reason: null,
          error: null,
          attempts: 0,
          version: row.version,
        }).catch(() => undefined);
      }
    }
  }

  /** Records the outcome behind the caller's back; the promise settles once it is written (or failed to be). */
  markActivated(key: string, activationId: string | null, attempts: number): Promise<void> {
    return this.writeBehind({ key, state: 'activated', activationId, reason: null, error: null, attempts });
  }

  markRejected(key: string, reason: string, attempts: number): Promise<void> {
    return this.writeBehind({ key, state: 'rejected', activationId: null, reason, error: null, attempts });
  }

  markUnavailable(key: string, error: string, attempts: number): Promise<void> {
    return this.writeBehind({ key, state: 'unavailable', activationId: null, reason: null, error, attempts });
  }

  /** Writes every outcome still waiting, and resolves once they are written. */
  async flush(): Promise<void> {
    await this.outcomes.flush();
  }

  private writeBehind(outcome: Outcome): Promise<void> {
    this.unwritten.set(outcome.key, outcome);

    return this.outcomes.submit(outcome).finally(() => {
      if (this.unwritten.get(outcome.key) === outcome) {
        this.unwritten.delete(outcome.key);
      }
    });
  }

  /** One statement for many keys; a key asked twice in the batch shares the one row returned. */
  private async beginAll(requests: ActivationRequest[]): Promise<ActivationRecord[]> {
    // In key order, so that two statements beginning the same keys (two replicas, or the gateway's look-up) lock
    // them in the same order rather than deadlock.
    const unique = [...new Map(requests.map((request) => [request.idempotencyKey, request])).values()].sort((a, b) =>
      compareKeys(a.idempotencyKey, b.idempotencyKey),
    );
    const rows = await pooledQuery<ActivationRow>(this.dataSource, 'promo_activations_begin', BEGIN_ACTIVATIONS, [
      unique.map((request) => request.idempotencyKey),
      unique.map((request) => request.flow),
      unique.map((request) => request.campaignId),
      unique.map((request) => request.occurrence),
      unique.map((request) => request.customerId),
      unique.map((request) => request.promoCode),
    ]);
    const byKey = new Map(rows.map((row) => [row.idempotency_key, toRecord(row)]));

    return requests.map((request) => {
      const record = byKey.get(request.idempotencyKey);
      if (record === undefined) {
        throw new Error(`the activation ledger returned no row for a key`);
      }

      return record;
    });
  }

  /**
   * One statement per round of distinct keys: a key with two outcomes in one batch gets them in submission order,
   * each applied only from the states its single-key form allows.
   */
  private async recordAll(outcomes: Outcome[]): Promise<void[]> {
    let rest = outcomes;
    while (rest.length > 0) {
      const seen = new Set<string>();
      const round: Outcome[] = [];
      const later: Outcome[] = [];
      for (const outcome of rest) {
        (seen.has(outcome.key) ? later : round).push(outcome);
        seen.add(outcome.key);
      }
      // In key order, as the begins: the UPDATE locks its rows in the order of the arrays.
      round.sort((a, b) => compareKeys(a.key, b.key));
      await this.dataSource.query(RECORD_OUTCOMES, [
        round.map((outcome) => outcome.key),
        round.map((outcome) => outcome.state),
        round.map((outcome) => outcome.activationId),
        round.map((outcome) => outcome.reason),
        round.map((outcome) => outcome.error),
        round.map((outcome) => outcome.attempts),
        round.map((outcome) => outcome.version ?? null),
      ]);
      rest = later;
    }

    return outcomes.map(() => undefined);
  }

  /** Marks the key for cancellation; false when nothing that may have been activated is known under it. */
  async markCancelling(key: string): Promise<boolean> {
    // An outcome still waiting to be written must not answer for the key any more: it is being cancelled.
    this.unwritten.delete(key);
    const rows = rowsOf<unknown>(
      await this.dataSource.query(
        `UPDATE promo_activations SET state = 'cancelling', updated_at = now()
         WHERE idempotency_key = $1 AND state IN ('pending', 'activated', 'unavailable', 'cancelling', 'skipped')
         RETURNING idempotency_key`,
        [key],
      ),
    );

    return rows.length > 0;
  }

  async markCancelled(key: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE promo_activations SET state = 'cancelled', cancelled_at = now(), updated_at = now(), last_error = NULL
       WHERE idempotency_key = $1 AND state = 'cancelling'`,
      [key],
    );
  }

  async noteCancellationFailure(key: string, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE promo_activations SET last_error = $2, updated_at = now() WHERE idempotency_key = $1`,
      [key, error],
    );
  }

  async find(key: string): Promise<ActivationRecord | null> {
    const rows: ActivationRow[] = await this.dataSource.query(
      `SELECT idempotency_key, state, activation_id, rejection_reason, attempts
       FROM promo_activations WHERE idempotency_key = $1`,
      [key],
    );

    return rows.length === 0 ? null : toRecord(rows[0]);
  }

  /** Keys whose cancellation has not been confirmed yet, oldest first. */
  async findCancelling(limit: number): Promise<string[]> {
    const rows: { idempotency_key: string }[] = await this.dataSource.query(
      `SELECT idempotency_key FROM promo_activations WHERE state = 'cancelling' ORDER BY updated_at LIMIT $1`,
      [limit],
    );

    return rows.map((row) => row.idempotency_key);
  }
}
