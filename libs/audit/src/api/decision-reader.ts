import { Decision } from '@app/decisions';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DecisionCursor, encodeCursor } from './cursor';
import { DecisionFilters, DecisionPageQuery } from './decision-filters';

interface DecisionRow extends KeysetRow {
  flow: Decision['flow'];
  campaign_id: string | null;
  action_id: string | null;
  series_id: string | null;
  clearance_id: string | null;
  customer_id: string;
  is_visitor: boolean;
  allowed: boolean;
  mode: Decision['mode'];
  policy: string;
  reasons: Decision['reasons'];
  checks: Decision['checks'];
  decided_at: Date;
  latency_ms: number | null;
  reported_at: Date | null;
}

export interface DecisionPage {
  items: Decision[];
  nextCursor: string | null;
}

/** An approval is reported with its slice: customer, then slice, then the report that carried the slice. */
const REPORTED_AT = `CASE WHEN d.clearance_id IS NULL OR NOT d.allowed THEN NULL ELSE
    (SELECT r.sent_at FROM clearance_customers cc
       JOIN clearance_slices s ON s.clearance_id = cc.clearance_id AND s.slice_no = cc.slice_no
       JOIN optimove_reports r ON r.id = s.report_id
      WHERE cc.clearance_id = d.clearance_id AND cc.customer_id = d.customer_id)
  END`;

const CURSOR_TIME = `to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_time`;

const COLUMNS = `d.id, d.flow, d.campaign_id, d.action_id, d.series_id, d.clearance_id, d.customer_id, d.is_visitor,
  d.allowed, d.mode, d.policy, d.reasons, d.checks, d.decided_at, d.latency_ms, ${CURSOR_TIME},
  ${REPORTED_AT} AS reported_at`;

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** The same Decision shape as {@link toDecision}, rendered by PostgreSQL so that exports skip parse and stringify. */
const JSON_LINE = `d.id, ${CURSOR_TIME}, json_build_object(
  'id', d.id, 'flow', d.flow, 'campaignId', d.campaign_id, 'actionId', d.action_id, 'seriesId', d.series_id,
  'clearanceId', d.clearance_id, 'customerId', d.customer_id, 'isVisitor', d.is_visitor, 'allowed', d.allowed,
  'mode', d.mode, 'policy', d.policy, 'reasons', d.reasons, 'checks', d.checks,
  'decidedAt', to_char(d.decided_at AT TIME ZONE 'UTC', ${ISO}), 'latencyMs', coalesce(d.latency_ms, 0),
  'reportedAt', to_char((${REPORTED_AT}) AT TIME ZONE 'UTC', ${ISO}))::text AS line`;

interface KeysetRow {
  id: string;
  cursor_time: string;
}

/** Reads of the audit: filtered pages newest first with keyset cursors, single records, and batched scans. */
@Injectable()
export class DecisionReader {
  constructor(private readonly dataSource: DataSource) {}

  async page(query: DecisionPageQuery): Promise<DecisionPage> {
    const rows = await this.fetch<DecisionRow>(COLUMNS, query, query.cursor, query.limit + 1);
    const items = rows.slice(0, query.limit);
    const last = rows.length > query.limit ? items[items.length - 1] : undefined;

    return {
      items: items.map(toDecision),
      nextCursor: last ? encodeCursor({ decidedAt: last.cursor_time, id: last.id }) : null,
    };
  }

  async findById(id: string): Promise<Decision | undefined> {
    const rows: DecisionRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM decisions d WHERE d.id = $1`, [id]);

    return rows[0] && toDecision(rows[0]);
  }

  /** Every matching decision, newest first, read in keyset batches so that memory stays flat. */
  async *scan(filters: DecisionFilters, batchSize = 5_000): AsyncGenerator<Decision[]> {
    for await (const rows of this.batches<DecisionRow>(COLUMNS, filters, batchSize)) {
      yield rows.map(toDecision);
    }
  }

  /** Like {@link scan}, but each decision already serialised as its JSON text, for NDJSON exports. */
  async *scanJson(filters: DecisionFilters, batchSize = 10_000): AsyncGenerator<string[]> {
    for await (const rows of this.batches<KeysetRow & { line: string }>(JSON_LINE, filters, batchSize)) {
      yield rows.map((row) => row.line);
    }
  }

  private async *batches<T extends KeysetRow>(columns: string, filters: DecisionFilters, size: number) {
    let cursor: DecisionCursor | undefined;
    for (;;) {
      const rows = await this.fetch<T>(columns, filters, cursor, size);
      if (rows.length > 0) {
        yield rows;
      }
      const last = rows[rows.length - 1];
      if (!last || rows.length < size) {
        return;
      }
      cursor = { decidedAt: last.cursor_time, id: last.id };
    }
  }

  private fetch<T>(
    columns: string,
    filters: DecisionFilters,
    cursor: DecisionCursor | undefined,
    limit: number,
  ): Promise<T[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    const where = (sql: (placeholder: string) => string, value: unknown): void => {
      parameters.push(value);
      conditions.push(sql(`$${parameters.length}`));
    };
    if (filters.campaignId !== undefined) {
      where((p) => `d.campaign_id = ${p}`, filters.campaignId);
    }
    if (filters.customerId !== undefined) {
      where((p) => `d.customer_id = ${p}`, filters.customerId);
    }
    if (filters.flow !== undefined) {
      where((p) => `d.flow = ${p}`, filters.flow);
    }
    if (filters.allowed !== undefined) {
      where((p) => `d.allowed = ${p}`, filters.allowed);
    }
    if (filters.reason !== undefined) {
      // The second clause is the reason index's own condition (it covers denials only), so that it may serve.
      where((p) => `d.reason_codes @> ARRAY[${p}]::text[] AND d.reason_codes <> '{}'::text[]`, filters.reason);
    }
    if (filters.clearanceId !== undefined) {
      where((p) => `d.clearance_id = ${p}`, filters.clearanceId);
    }
    if (filters.from !== undefined) {
      where((p) => `d.decided_at >= ${p}`, filters.from);
    }
    if (filters.to !== undefined) {
      where((p) => `d.decided_at < ${p}`, filters.to);
    }
    if (cursor !== undefined) {
      parameters.push(cursor.decidedAt, cursor.id);
      conditions.push(`(d.decided_at, d.id) < ($${parameters.length - 1}::timestamptz, $${parameters.length}::uuid)`);
    }
    parameters.push(limit);
    const whereClause = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';

    return this.dataSource.query(
      `SELECT ${columns} FROM decisions d ${whereClause}
        ORDER BY d.decided_at DESC, d.id DESC LIMIT $${parameters.length}`,
      parameters,
    );
  }
}

function toDecision(row: DecisionRow): Decision {
  return {
    id: row.id,
    flow: row.flow,
    campaignId: row.campaign_id,
    actionId: row.action_id,
    seriesId: row.series_id,
    clearanceId: row.clearance_id,
    customerId: row.customer_id,
    isVisitor: row.is_visitor,
    allowed: row.allowed,
    mode: row.mode,
    policy: row.policy,
    reasons: row.reasons,
    checks: row.checks,
    decidedAt: row.decided_at.toISOString(),
    latencyMs: row.latency_ms ?? 0,
    reportedAt: row.reported_at ? row.reported_at.toISOString() : null,
  };
}
