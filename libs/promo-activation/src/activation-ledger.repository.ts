import { rowsOf } from '@app/database';
import { DataSource } from 'typeorm';
import { ActivationRequest } from './promo-activation.port';

/** States of a row of `promo_activations`. */
export type ActivationState = 'pending' | 'activated' | 'rejected' | 'unavailable' | 'cancelling' | 'cancelled';

/** What the ledger knows of one key. */
export interface ActivationRecord {
  idempotencyKey: string;
  state: ActivationState;
  activationId: string | null;
  rejectionReason: string | null;
  attempts: number;
}

interface ActivationRow {
  idempotency_key: string;
  state: ActivationState;
  activation_id: string | null;
  rejection_reason: string | null;
  attempts: number;
}

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
 * The `promo_activations` table: one row per idempotency key and its state transitions,
 * pending → activated | rejected | unavailable, then activated | unavailable | pending → cancelling → cancelled.
 * A row left `unavailable` or `cancelling` may hide an activation that landed late; `findCancelling` lists the latter
 * for a sweeper.
 */
export class ActivationLedger {
  constructor(private readonly dataSource: DataSource) {}

  /** Inserts the key as pending, or returns the row that already holds it. */
  async begin(request: ActivationRequest): Promise<ActivationRecord> {
    const rows: ActivationRow[] = await this.dataSource.query(
      `INSERT INTO promo_activations (idempotency_key, flow, campaign_id, occurrence, customer_id, promo_code)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (idempotency_key) DO UPDATE SET updated_at = promo_activations.updated_at
       RETURNING idempotency_key, state, activation_id, rejection_reason, attempts`,
      [
        request.idempotencyKey,
        request.flow,
        request.campaignId,
        request.occurrence,
        request.customerId,
        request.promoCode,
      ],
    );

    return toRecord(rows[0]);
  }

  async markActivated(key: string, activationId: string | null, attempts: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE promo_activations
       SET state = 'activated', activation_id = $2, attempts = attempts + $3, activated_at = now(), updated_at = now(),
           last_error = NULL
       WHERE idempotency_key = $1 AND state IN ('pending', 'unavailable')`,
      [key, activationId, attempts],
    );
  }

  async markRejected(key: string, reason: string, attempts: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE promo_activations
       SET state = 'rejected', rejection_reason = $2, attempts = attempts + $3, updated_at = now()
       WHERE idempotency_key = $1 AND state IN ('pending', 'unavailable')`,
      [key, reason, attempts],
    );
  }

  async markUnavailable(key: string, error: string, attempts: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE promo_activations
       SET state = 'unavailable', last_error = $2, attempts = attempts + $3, updated_at = now()
       WHERE idempotency_key = $1 AND state = 'pending'`,
      [key, error, attempts],
    );
  }

  /** Marks the key for cancellation; false when nothing that may have been activated is known under it. */
  async markCancelling(key: string): Promise<boolean> {
    const rows = rowsOf<unknown>(
      await this.dataSource.query(
        `UPDATE promo_activations SET state = 'cancelling', updated_at = now()
         WHERE idempotency_key = $1 AND state IN ('pending', 'activated', 'unavailable', 'cancelling')
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
