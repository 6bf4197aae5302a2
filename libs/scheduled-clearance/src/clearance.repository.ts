import { Decision } from '@app/decisions';
import { insertDecisions } from '@app/audit';
import { isStorableText, rowsOf } from '@app/database';
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/** The lease under which a worker may write to a clearance's fetch or to one of its slices. */
export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST';
  /** The slice's next owner decides again with the same idempotency keys: its activations must not be cancelled. */
  readonly keepsActivations = true;

  constructor(what: string) {
    super(`lease lost: ${what} belongs to another worker now`);
    this.name = 'LeaseLostError';
  }
}

export type ClearanceOutcome = 'clearance_created' | 'duplicate' | 'expired';

export interface OpenClearanceInput {
  campaignId: string;
  clearanceRequiredBy: Date;
  reportBy: Date;
  decideBy: Date;
  source: 'optimove' | 'admin';
}

export interface NotificationRecord {
  eventTypeId: number | null;
  campaignId: string | null;
  optimoveTimestamp: Date | null;
  clearanceRequiredBy: Date | null;
  outcome: ClearanceOutcome | 'ignored' | 'rejected';
  clearanceId: string | null;
  payload: Record<string, unknown>;
}

export interface FetchLease {
  clearanceId: string;
  campaignId: string;
  fetchOffset: number;
  total: number;
  fencingToken: number;
  decideBy: Date;
}

export interface StoredCustomer {
  customerId: string;
  actionId: string | null;
  promoCode: string | null;
}

export interface SliceLease {
  clearanceId: string;
  sliceNo: number;
  firstSeq: number;
  lastSeq: number;
  fencingToken: number;
  campaignId: string;
  decideBy: Date;
}

export interface ReportBatch {
  reportId: number;
  clearanceId: string;
  campaignId: string;
  clearanceRequiredBy: Date;
  customerIds: string[];
}

export interface ClearanceTotals {
  id: string;
  campaignId: string;
  clearanceRequiredBy: Date;
  reportBy: Date;
  total: number;
  approved: number;
  denied: number;
  reported: number;
  deadlineMet: boolean;
  finishedAt: Date;
}

const DEADLINE_REASON = [{ code: 'DEADLINE_EXCEEDED', message: 'not decided before the clearance cut-off' }];

/**
 * The scheduled flow's state in PostgreSQL: clearances and their customers, slices claimed under lease with a
 * fencing token (every write checks that the token is still the writer's), and reports to Optimove.
 */
@Injectable()
export class ClearanceRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Creates the clearance of (campaign, deadline), or finds the one that exists; records the notification. */
  async openClearance(
    input: OpenClearanceInput,
    notification: Omit<NotificationRecord, 'outcome' | 'clearanceId'>,
  ): Promise<{ clearanceId: string; outcome: ClearanceOutcome }> {
    return this.dataSource.transaction(async (manager) => {
      const created: { id: string; status: string }[] = await manager.query(
        `INSERT INTO clearances (campaign_id, clearance_required_by, report_by, decide_by, source, status, finished_at,
                                 deadline_met)
         SELECT $1, $2, $3, $4, $5, s.status, CASE WHEN s.status = 'expired' THEN now() END,
                CASE WHEN s.status = 'expired' THEN false END
           FROM (SELECT CASE WHEN $4::timestamptz <= now() THEN 'expired' ELSE 'pending' END AS status) s
         ON CONFLICT (campaign_id, clearance_required_by) DO NOTHING
         RETURNING id, status`,
        [input.campaignId, input.clearanceRequiredBy, input.reportBy, input.decideBy, input.source],
      );
      let clearanceId = created[0]?.id;
      let outcome: ClearanceOutcome = created[0]?.status === 'expired' ? 'expired' : 'clearance_created';
      if (!clearanceId) {
        // A new statement takes a new snapshot, so it sees a twin committed by a concurrent notification.
        const existing: { id: string }[] = await manager.query(
          `SELECT id FROM clearances WHERE campaign_id = $1 AND clearance_required_by = $2`,
          [input.campaignId, input.clearanceRequiredBy],
        );
        clearanceId = existing[0]?.id;
        outcome = 'duplicate';
      }
      if (!clearanceId) {
        throw new Error(`clearance of campaign ${input.campaignId} could be neither created nor found`);
      }
      await this.insertNotification(manager, { ...notification, outcome, clearanceId });

      return { clearanceId, outcome };
    });
  }

  async recordNotification(notification: NotificationRecord): Promise<void> {
    await this.insertNotification(this.dataSource.manager, notification);
  }

  async claimFetch(owner: string, leaseMs: number): Promise<FetchLease | undefined> {
    const rows: {
      id: string;
      campaign_id: string;
      fetch_offset: string;
      total: string;
      fencing_token: string;
      decide_by: Date;
    }[] = rowsOf(
      await this.dataSource.query(
        `UPDATE clearances c
          SET status = 'fetching', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
              fencing_token = c.fencing_token + 1, updated_at = now()
         FROM (SELECT id FROM clearances
                WHERE status IN ('pending', 'fetching') AND fetch_completed_at IS NULL AND decide_by > now()
                  AND (lease_owner IS NULL OR lease_expires_at < now())
                ORDER BY decide_by LIMIT 1 FOR UPDATE SKIP LOCKED) pick
        WHERE c.id = pick.id
        RETURNING c.id, c.campaign_id, c.fetch_offset, c.total, c.fencing_token, c.decide_by`,
        [owner, leaseMs],
      ),
    );
    const row = rows[0];

    return (
      row && {
        clearanceId: row.id,
        campaignId: row.campaign_id,
        fetchOffset: Number(row.fetch_offset),
        total: Number(row.total),
        fencingToken: Number(row.fencing_token),
        decideBy: row.decide_by,
      }
    );
  }

  /**
   * Stores one page of the target group under the fetch lease: new customers (duplicates of earlier pages are
   * skipped), slices over them, and the offset to resume from, all in one transaction.
   */
  async storePage(
    lease: FetchLease,
    owner: string,
    page: { customers: StoredCustomer[]; nextOffset: number; last: boolean },
    sliceSize: number,
    leaseMs: number,
  ): Promise<{ inserted: number; unstorable: number }> {
    // A customer whose id or promo code PostgreSQL cannot store would fail the page's statement on every attempt,
    // and with it the whole clearance: it is left out (never approved) and counted instead.
    const storable = page.customers.filter(
      (customer) =>
        isStorableText(customer.customerId) && (customer.promoCode === null || isStorableText(customer.promoCode)),
    );
    const unstorable = page.customers.length - storable.length;

    return this.dataSource.transaction(async (manager) => {
      const locked: { total: string; slices: string }[] = await manager.query(
        `SELECT total, (SELECT coalesce(max(slice_no) + 1, 0) FROM clearance_slices WHERE clearance_id = $1) AS slices
           FROM clearances WHERE id = $1 AND lease_owner = $2 AND fencing_token = $3 FOR UPDATE`,
        [lease.clearanceId, owner, lease.fencingToken],
      );
      const current = locked[0];
      if (!current) {
        throw new LeaseLostError(`the fetch of clearance ${lease.clearanceId}`);
      }
      const total = Number(current.total);
      const firstSlice = Number(current.slices);
      const rows = storable.map((customer, index) => ({
        ...customer,
        seq: total + index + 1,
        sliceNo: firstSlice + Math.floor(index / sliceSize),
      }));
      const inserted: { seq: string }[] =
        rows.length === 0
          ? []
          : await manager.query(
              `INSERT INTO clearance_customers (clearance_id, seq, slice_no, customer_id, action_id, promo_code)
               SELECT $1, r.seq, r."sliceNo", r."customerId", r."actionId", r."promoCode"
                 FROM jsonb_to_recordset($2::jsonb)
                      AS r(seq bigint, "sliceNo" int, "customerId" text, "actionId" text, "promoCode" text)
               ON CONFLICT (clearance_id, customer_id) DO NOTHING
               RETURNING seq`,
              [lease.clearanceId, JSON.stringify(rows)],
            );
      if (rows.length > 0) {
        const firstSeq = total + 1;
        const lastSeq = total + rows.length;
        await manager.query(
          `INSERT INTO clearance_slices (clearance_id, slice_no, first_seq, last_seq)
           SELECT $1, $2::int + n, $3::bigint + n * $5::int, least($3::bigint + (n + 1) * $5::int - 1, $4::bigint)
             FROM generate_series(0, (($4::bigint - $3::bigint) / $5::int)::int) AS n`,
          [lease.clearanceId, firstSlice, firstSeq, lastSeq, sliceSize],
        );
      }
      await manager.query(
        `UPDATE clearances
            SET fetch_offset = $2, total = total + $3, updated_at = now(),
                lease_expires_at = now() + $4 * interval '1 millisecond',
                status = CASE WHEN $5 THEN 'deciding' ELSE 'fetching' END,
                fetch_completed_at = CASE WHEN $5 THEN now() END,
                lease_owner = CASE WHEN $5 THEN NULL ELSE lease_owner END
          WHERE id = $1`,
        [lease.clearanceId, page.nextOffset, inserted.length, leaseMs, page.last],
      );

      return { inserted: inserted.length, unstorable };
    });
  }

  async releaseFetch(lease: FetchLease, owner: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE clearances SET lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_owner = $2 AND fencing_token = $3`,
      [lease.clearanceId, owner, lease.fencingToken],
    );
  }

  async failClearance(clearanceId: string, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE clearances SET status = 'failed', last_error = $2, finished_at = now(), deadline_met = false,
              lease_owner = NULL, updated_at = now()
        WHERE id = $1 AND status NOT IN ('completed', 'expired', 'failed')`,
      [clearanceId, error.slice(0, 500)],
    );
  }

  /** Claims the next slice to decide: a pending one, or one whose lease expired (its worker died or stalled). */
  async claimSlice(owner: string, leaseMs: number): Promise<SliceLease | undefined> {
    const rows: {
      clearance_id: string;
      slice_no: number;
      first_seq: string;
      last_seq: string;
      fencing_token: string;
      campaign_id: string;
      decide_by: Date;
    }[] = rowsOf(
      await this.dataSource.query(
        `WITH pick AS (
         SELECT s.clearance_id, s.slice_no, c.campaign_id, c.decide_by
           FROM clearance_slices s JOIN clearances c ON c.id = s.clearance_id
          WHERE s.state <> 'done' AND (s.state = 'pending' OR s.lease_expires_at < now())
            AND c.status IN ('fetching', 'deciding') AND c.decide_by > now()
          ORDER BY c.decide_by, s.slice_no
          LIMIT 1 FOR UPDATE OF s SKIP LOCKED)
       UPDATE clearance_slices s
          SET state = 'leased', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
              fencing_token = s.fencing_token + 1, attempts = s.attempts + 1
         FROM pick
        WHERE s.clearance_id = pick.clearance_id AND s.slice_no = pick.slice_no
        RETURNING s.clearance_id, s.slice_no, s.first_seq, s.last_seq, s.fencing_token,
                  pick.campaign_id, pick.decide_by`,
        [owner, leaseMs],
      ),
    );
    const row = rows[0];

    return (
      row && {
        clearanceId: row.clearance_id,
        sliceNo: row.slice_no,
        firstSeq: Number(row.first_seq),
        lastSeq: Number(row.last_seq),
        fencingToken: Number(row.fencing_token),
        campaignId: row.campaign_id,
        decideBy: row.decide_by,
      }
    );
  }

  async renewSlice(slice: SliceLease, owner: string, leaseMs: number): Promise<boolean> {
    const rows: unknown[] = rowsOf(
      await this.dataSource.query(
        `UPDATE clearance_slices SET lease_expires_at = now() + $5 * interval '1 millisecond'
        WHERE clearance_id = $1 AND slice_no = $2 AND lease_owner = $3 AND fencing_token = $4 AND state = 'leased'
        RETURNING 1`,
        [slice.clearanceId, slice.sliceNo, owner, slice.fencingToken, leaseMs],
      ),
    );

    return rows.length > 0;
  }

  /** Hands a slice back so that any worker may claim it at once. */
  async releaseSlice(slice: SliceLease, owner: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE clearance_slices SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
        WHERE clearance_id = $1 AND slice_no = $2 AND lease_owner = $3 AND fencing_token = $4 AND state = 'leased'`,
      [slice.clearanceId, slice.sliceNo, owner, slice.fencingToken],
    );
  }

  async loadSliceCustomers(slice: SliceLease): Promise<StoredCustomer[]> {
    const rows: { customer_id: string; action_id: string | null; promo_code: string | null }[] =
      await this.dataSource.query(
        `SELECT customer_id, action_id, promo_code FROM clearance_customers
          WHERE clearance_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
        [slice.clearanceId, slice.firstSeq, slice.lastSeq],
      );

    return rows.map((row) => ({ customerId: row.customer_id, actionId: row.action_id, promoCode: row.promo_code }));
  }

  /**
   * Commits a slice's decisions, its activations and the slice as done with its approvals, in one transaction that
   * first takes the slice under its lease: a worker that lost its slice can write nothing, so each customer gets
   * exactly one decision.
   */
  async commitSlice(
    slice: SliceLease,
    owner: string,
    decisions: readonly Decision[],
    promoCodes: ReadonlyMap<string, string | null>,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const approvedIds = decisions.filter((decision) => decision.allowed).map((decision) => decision.customerId);
      const held: unknown[] = rowsOf(
        await manager.query(
          `UPDATE clearance_slices SET state = 'done', done_at = now(), lease_owner = NULL, approved_ids = $5
            WHERE clearance_id = $1 AND slice_no = $2 AND lease_owner = $3 AND fencing_token = $4 AND state = 'leased'
            RETURNING 1`,
          [slice.clearanceId, slice.sliceNo, owner, slice.fencingToken, approvedIds],
        ),
      );
      if (held.length === 0) {
        throw new LeaseLostError(`slice ${slice.sliceNo} of clearance ${slice.clearanceId}`);
      }
      await insertDecisions(manager, decisions);
      await recordActivations(manager, slice, decisions, promoCodes);
      const approved = approvedIds.length;
      await manager.query(
        `UPDATE clearances SET approved = approved + $2, denied = denied + $3, updated_at = now() WHERE id = $1`,
        [slice.clearanceId, approved, decisions.length - approved],
      );
    });
  }

  /**
   * At the cut-off: fences every unfinished slice (so late writers fail), and denies every customer still pending
   * with DEADLINE_EXCEEDED, recorded in the audit in the same transaction. Returns how many were denied.
   */
  async cutOff(
    clearanceId: string,
    policy: string,
  ): Promise<{ denied: number; withPromo: { customerId: string; promoCode: string }[] }> {
    return this.dataSource.transaction(async (manager) => {
      const locked: { campaign_id: string }[] = await manager.query(
        `SELECT campaign_id FROM clearances WHERE id = $1 AND status IN ('pending', 'fetching', 'deciding') FOR UPDATE`,
        [clearanceId],
      );
      const campaignId = locked[0]?.campaign_id;
      if (campaignId === undefined) {
        return { denied: 0, withPromo: [] };
      }
      // The slices not done are fenced (a late writer's commit fails) and their customers, none of them decided,
      // denied. A slice's decisions commit together with its `done`, so no customer of these has a decision.
      const late: { customer_id: string; promo_code: string | null }[] = await manager.query(
        `WITH fenced AS (
           UPDATE clearance_slices SET state = 'done', done_at = now(), lease_owner = NULL,
                  fencing_token = fencing_token + 1, approved_ids = '{}'
            WHERE clearance_id = $1 AND state <> 'done'
            RETURNING first_seq, last_seq),
         late AS (
           SELECT cc.customer_id, cc.action_id, cc.promo_code, gen_random_uuid() AS decision_id, now() AS decided_at
             FROM fenced f JOIN clearance_customers cc
                  ON cc.clearance_id = $1 AND cc.seq BETWEEN f.first_seq AND f.last_seq),
         recorded AS (
           INSERT INTO decisions (id, decided_at, flow, campaign_id, action_id, clearance_id, customer_id, allowed,
                                  mode, policy, reason_codes, reasons, checks, latency_ms)
           SELECT decision_id, decided_at, 'scheduled', $2, action_id, $1, customer_id, false, 'enforce', $3,
                  ARRAY['DEADLINE_EXCEEDED'], $4::jsonb, '[]'::jsonb, 0
             FROM late)
         SELECT customer_id, promo_code FROM late`,
        [clearanceId, campaignId, policy, JSON.stringify(DEADLINE_REASON)],
      );
      const count = late.length;
      await manager.query(
        `UPDATE clearances
            SET denied = denied + $2, status = 'deciding', lease_owner = NULL, updated_at = now(),
                fetch_completed_at = coalesce(fetch_completed_at, now())
          WHERE id = $1`,
        [clearanceId, count],
      );

      return {
        denied: count,
        withPromo: late.flatMap((row) =>
          row.promo_code ? [{ customerId: row.customer_id, promoCode: row.promo_code }] : [],
        ),
      };
    });
  }

  /**
   * Marks activations to undo: customers denied at the cut-off may have been activated by a worker whose slice was
   * fenced. Nothing may have happened under a key; the sweep then learns `not-activated`.
   */
  async markForCancellation(
    clearanceId: string,
    campaignId: string,
    keys: { key: string; customerId: string; promoCode: string }[],
  ): Promise<void> {
    if (keys.length === 0) {
      return;
    }
    await this.dataSource.query(
      `INSERT INTO promo_activations (idempotency_key, flow, campaign_id, occurrence, customer_id, promo_code, state)
       SELECT r.key, 'scheduled', $1, $2, r."customerId", r."promoCode", 'cancelling'
         FROM jsonb_to_recordset($3::jsonb) AS r(key text, "customerId" text, "promoCode" text)
       ON CONFLICT (idempotency_key) DO UPDATE SET state = 'cancelling', updated_at = now()
         WHERE promo_activations.state NOT IN ('cancelled', 'rejected')`,
      [campaignId, clearanceId, JSON.stringify(keys)],
    );
  }

  /** Scheduled activations waiting to be cancelled, oldest first. */
  async activationsToCancel(limit: number): Promise<string[]> {
    const rows: { idempotency_key: string }[] = await this.dataSource.query(
      `SELECT idempotency_key FROM promo_activations WHERE state = 'cancelling' AND flow = 'scheduled'
        ORDER BY updated_at LIMIT $1`,
      [limit],
    );

    return rows.map((row) => row.idempotency_key);
  }

  async settleCancellation(key: string, outcome: 'cancelled' | 'failed', error?: string): Promise<void> {
    if (outcome === 'cancelled') {
      await this.dataSource.query(
        `UPDATE promo_activations SET state = 'cancelled', cancelled_at = now(), updated_at = now(), last_error = NULL
          WHERE idempotency_key = $1 AND state = 'cancelling'`,
        [key],
      );
    } else {
      await this.dataSource.query(
        `UPDATE promo_activations SET updated_at = now(), last_error = $2 WHERE idempotency_key = $1`,
        [key, error ?? 'unavailable'],
      );
    }
  }

  /** Clearances whose decision cut-off has passed while customers may still be undecided. */
  async clearancesPastCutOff(): Promise<{ id: string; campaignId: string }[]> {
    const rows: { id: string; campaign_id: string }[] = await this.dataSource.query(
      `SELECT c.id, c.campaign_id FROM clearances c
        WHERE c.status IN ('pending', 'fetching', 'deciding') AND c.decide_by <= now()
          AND (c.fetch_completed_at IS NULL
               OR EXISTS (SELECT 1 FROM clearance_slices s WHERE s.clearance_id = c.id AND s.state <> 'done'))`,
    );

    return rows.map((row) => ({ id: row.id, campaignId: row.campaign_id }));
  }

  /**
   * Takes the approvals of decided, unreported slices of a clearance into a new report leased to `owner`, whole
   * slices in slice order up to `max` approvals, when the batch is worth sending now: full, or the clearance has
   * nothing left to decide, or its oldest waiting slice was decided more than `maxAgeMs` ago.
   */
  async openReport(owner: string, max: number, maxAgeMs: number, leaseMs: number): Promise<ReportBatch | undefined> {
    return this.dataSource.transaction(async (manager) => {
      const candidates: { id: string; campaign_id: string; clearance_required_by: Date; settled: boolean }[] =
        await manager.query(
          `SELECT c.id, c.campaign_id, c.clearance_required_by,
                  (c.status = 'deciding' AND (c.decide_by <= now() OR NOT EXISTS (
                     SELECT 1 FROM clearance_slices s WHERE s.clearance_id = c.id AND s.state <> 'done'))) AS settled
             FROM clearances c
            WHERE c.status = 'deciding' OR (c.status = 'fetching' AND c.decide_by > now())
            ORDER BY c.report_by`,
        );
      for (const candidate of candidates) {
        const taken = await takeSlices(manager, candidate.id, max);
        if (taken.slices.length === 0) {
          continue;
        }
        const customerIds = taken.slices.flatMap((slice) => slice.approved_ids);
        const oldest = Math.min(...taken.slices.map((slice) => slice.done_at.getTime()));
        if (!taken.full && !candidate.settled && Date.now() - oldest < maxAgeMs) {
          continue;
        }
        const report: { id: string }[] = await manager.query(
          `INSERT INTO optimove_reports (clearance_id, campaign_id, customer_count, customer_ids, lease_owner,
                                         lease_expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond') RETURNING id`,
          [candidate.id, candidate.campaign_id, customerIds.length, customerIds, owner, leaseMs],
        );
        const reportId = Number(report[0]?.id);
        await manager.query(
          `UPDATE clearance_slices SET report_id = $2 WHERE clearance_id = $1 AND slice_no = ANY($3::int[])`,
          [candidate.id, reportId, taken.slices.map((slice) => slice.slice_no)],
        );

        return {
          reportId,
          clearanceId: candidate.id,
          campaignId: candidate.campaign_id,
          clearanceRequiredBy: candidate.clearance_required_by,
          customerIds,
        };
      }

      return undefined;
    });
  }

  /** A report whose sender died or failed, claimed again once its lease expired. */
  async reclaimReport(owner: string, leaseMs: number): Promise<ReportBatch | undefined> {
    const claimed: {
      id: string;
      clearance_id: string;
      campaign_id: string;
      clearance_required_by: Date;
      customer_ids: string[];
    }[] = rowsOf(
      await this.dataSource.query(
        `UPDATE optimove_reports r
            SET lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond'
           FROM (SELECT r2.id FROM optimove_reports r2
                  WHERE r2.state = 'pending' AND r2.lease_expires_at < now()
                  ORDER BY r2.id LIMIT 1 FOR UPDATE SKIP LOCKED) pick, clearances c
          WHERE r.id = pick.id AND c.id = r.clearance_id
          RETURNING r.id, r.clearance_id, r.campaign_id, c.clearance_required_by, r.customer_ids`,
        [owner, leaseMs],
      ),
    );
    const report = claimed[0];
    if (!report) {
      return undefined;
    }

    return {
      reportId: Number(report.id),
      clearanceId: report.clearance_id,
      campaignId: report.campaign_id,
      clearanceRequiredBy: report.clearance_required_by,
      customerIds: report.customer_ids,
    };
  }

  async markReportSent(report: ReportBatch): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const sent: unknown[] = rowsOf(
        await manager.query(
          `UPDATE optimove_reports SET state = 'sent', sent_at = now(), attempts = attempts + 1, lease_owner = NULL
          WHERE id = $1 AND state = 'pending' RETURNING 1`,
          [report.reportId],
        ),
      );
      if (sent.length === 0) {
        return;
      }
      await manager.query(`UPDATE clearances SET reported = reported + $2, updated_at = now() WHERE id = $1`, [
        report.clearanceId,
        report.customerIds.length,
      ]);
    });
  }

  /** Keeps the report pending for another attempt after `retryInMs`, or fails it once the deadline has passed. */
  async markReportFailed(report: ReportBatch, error: string, retryInMs: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE optimove_reports
          SET attempts = attempts + 1, error = $2, lease_owner = NULL,
              lease_expires_at = now() + $3 * interval '1 millisecond',
              state = CASE WHEN $4::timestamptz <= now() THEN 'failed' ELSE 'pending' END
        WHERE id = $1 AND state = 'pending'`,
      [report.reportId, error.slice(0, 500), retryInMs, report.clearanceRequiredBy],
    );
  }

  /**
   * Closes clearances with nothing left to do: every customer decided, every approval reported (completed), or
   * whose deadline passed with approvals unreported (failed). Returns what was closed, for the closing log line.
   */
  async closeFinished(): Promise<{ completed: ClearanceTotals[]; failed: ClearanceTotals[] }> {
    const finished: ClearanceRowTotals[] = rowsOf(
      await this.dataSource.query(
        `UPDATE clearances c
          SET status = 'completed', finished_at = now(), updated_at = now(),
              deadline_met = coalesce((SELECT max(r.sent_at) FROM optimove_reports r WHERE r.clearance_id = c.id),
                                      now()) <= c.report_by
        WHERE c.status = 'deciding' AND c.fetch_completed_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM clearance_slices s WHERE s.clearance_id = c.id AND s.state <> 'done')
          AND NOT EXISTS (SELECT 1 FROM clearance_slices s
                           WHERE s.clearance_id = c.id AND s.state = 'done' AND s.report_id IS NULL
                             AND cardinality(s.approved_ids) > 0)
          AND NOT EXISTS (SELECT 1 FROM optimove_reports r WHERE r.clearance_id = c.id AND r.state <> 'sent')
        RETURNING ${TOTALS}`,
      ),
    );
    const failed: ClearanceRowTotals[] = rowsOf(
      await this.dataSource.query(
        `UPDATE clearances c
          SET status = 'failed', finished_at = now(), updated_at = now(), deadline_met = false,
              last_error = 'approvals still unreported at ClearanceRequiredBy'
        WHERE c.status IN ('pending', 'fetching', 'deciding') AND c.clearance_required_by <= now()
        RETURNING ${TOTALS}`,
      ),
    );

    return { completed: finished.map(toTotals), failed: failed.map(toTotals) };
  }

  /** Counts of every open clearance, for the progress metrics. */
  async openProgress(): Promise<
    {
      id: string;
      campaignId: string;
      total: number;
      approved: number;
      denied: number;
      reported: number;
      secondsLeft: number;
    }[]
  > {
    const rows: {
      id: string;
      campaign_id: string;
      total: string;
      approved: string;
      denied: string;
      reported: string;
      seconds_left: number;
    }[] = await this.dataSource.query(
      `SELECT id, campaign_id, total, approved, denied, reported,
              extract(epoch FROM report_by - now())::float8 AS seconds_left
         FROM clearances WHERE status IN ('pending', 'fetching', 'deciding')`,
    );

    return rows.map((row) => ({
      id: row.id,
      campaignId: row.campaign_id,
      total: Number(row.total),
      approved: Number(row.approved),
      denied: Number(row.denied),
      reported: Number(row.reported),
      secondsLeft: row.seconds_left,
    }));
  }

  /**
   * Runs `work` only if no other replica holds the named task right now. The lock is a session lock on a connection
   * of its own, held with no transaction open (an open transaction would stall the embedded database, which
   * serialises transactions across connections), and released before the connection goes back to the pool.
   */
  async runExclusively<T>(task: string, work: () => Promise<T>): Promise<T | undefined> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    let locked = false;
    try {
      const [lock] = (await runner.query(`SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS acquired`, [
        task,
      ])) as { acquired: boolean }[];
      locked = lock?.acquired === true;
      if (!locked) {
        return undefined;
      }

      return await work();
    } finally {
      if (locked) {
        await runner.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [task]).catch(() => undefined);
      }
      await runner.release();
    }
  }

  private async insertNotification(manager: EntityManager, notification: NotificationRecord): Promise<void> {
    await manager.query(
      `INSERT INTO notifications (event_type_id, campaign_id, optimove_timestamp, clearance_required_by, outcome,
                                  clearance_id, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        notification.eventTypeId,
        notification.campaignId,
        notification.optimoveTimestamp,
        notification.clearanceRequiredBy,
        notification.outcome,
        notification.clearanceId,
        JSON.stringify(notification.payload),
      ],
    );
  }
}

/**
 * Writes the slice's promo activations to the ledger in one statement: the engine tried each key once per
 * decision, and the outcome of its promo check says how it ended. Denied customers whose activation may have
 * landed are `cancelling`: the engine cancels them.
 */
async function recordActivations(
  manager: EntityManager,
  slice: SliceLease,
  decisions: readonly Decision[],
  promoCodes: ReadonlyMap<string, string | null>,
): Promise<void> {
  const rows = decisions.flatMap((decision) =>
    decision.checks
      .filter((check) => check.name === 'promo')
      .flatMap((check) =>
        (check.idempotencyKeys ?? []).map((key) => ({
          key,
          customerId: decision.customerId,
          promoCode: promoCodes.get(decision.customerId) ?? '',
          state: decision.allowed ? 'activated' : check.outcome === 'fail' ? 'rejected' : 'cancelling',
        })),
      ),
  );
  if (rows.length === 0) {
    return;
  }
  await manager.query(
    `INSERT INTO promo_activations (idempotency_key, flow, campaign_id, occurrence, customer_id, promo_code, state,
                                    attempts, activated_at)
     SELECT r.key, 'scheduled', $1, $2, r."customerId", r."promoCode", r.state, 1,
            CASE WHEN r.state = 'activated' THEN now() END
       FROM jsonb_to_recordset($3::jsonb) AS r(key text, "customerId" text, "promoCode" text, state text)
     ON CONFLICT (idempotency_key) DO UPDATE
       SET state = EXCLUDED.state, updated_at = now(), attempts = promo_activations.attempts + 1,
           activated_at = coalesce(promo_activations.activated_at, EXCLUDED.activated_at)`,
    [slice.campaignId, slice.clearanceId, JSON.stringify(rows)],
  );
}

/**
 * Locks decided, unreported slices of a clearance one at a time, in slice order (a lock of this transaction's own
 * does not skip a row, hence the rising slice number), each only if its approvals still fit
 * in `max`: concurrent reporters skip each other's slices and never hold one they will not send. The first slice is
 * taken whatever its size (the worker keeps slices no larger than `max`), so that none can be stuck. `full`: a slice
 * was left out for want of room.
 */
async function takeSlices(
  manager: EntityManager,
  clearanceId: string,
  max: number,
): Promise<{ slices: { slice_no: number; approved_ids: string[]; done_at: Date }[]; full: boolean }> {
  const slices: { slice_no: number; approved_ids: string[]; done_at: Date }[] = [];
  let count = 0;
  for (;;) {
    const room = slices.length === 0 ? 2_147_483_647 : max - count;
    const [next]: { slice_no: number; approved_ids: string[]; done_at: Date }[] = await manager.query(
      `SELECT slice_no, approved_ids, done_at FROM clearance_slices
        WHERE clearance_id = $1 AND state = 'done' AND report_id IS NULL AND cardinality(approved_ids) > 0
          AND cardinality(approved_ids) <= $2 AND slice_no > $3
        ORDER BY slice_no LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [clearanceId, room, slices.at(-1)?.slice_no ?? -1],
    );
    if (next === undefined) {
      break;
    }
    slices.push(next);
    count += next.approved_ids.length;
  }

  return {
    slices,
    full: count >= max || (slices.length > 0 && (await moreWaiting(manager, clearanceId, slices.at(-1)!.slice_no))),
  };
}

/** Whether a decided slice of the clearance is left waiting for a report (one that did not fit). */
async function moreWaiting(manager: EntityManager, clearanceId: string, after: number): Promise<boolean> {
  const rows: unknown[] = await manager.query(
    `SELECT 1 FROM clearance_slices
      WHERE clearance_id = $1 AND state = 'done' AND report_id IS NULL AND cardinality(approved_ids) > 0
        AND slice_no > $2
      LIMIT 1`,
    [clearanceId, after],
  );

  return rows.length > 0;
}

interface ClearanceRowTotals {
  id: string;
  campaign_id: string;
  clearance_required_by: Date;
  report_by: Date;
  total: string;
  approved: string;
  denied: string;
  reported: string;
  deadline_met: boolean;
  finished_at: Date;
}

const TOTALS = `c.id, c.campaign_id, c.clearance_required_by, c.report_by, c.total, c.approved, c.denied, c.reported,
  c.deadline_met, c.finished_at`;

function toTotals(row: ClearanceRowTotals): ClearanceTotals {
  return {
    id: row.id,
    campaignId: row.campaign_id,
    clearanceRequiredBy: row.clearance_required_by,
    reportBy: row.report_by,
    total: Number(row.total),
    approved: Number(row.approved),
    denied: Number(row.denied),
    reported: Number(row.reported),
    deadlineMet: row.deadline_met,
    finishedAt: row.finished_at,
  };
}
