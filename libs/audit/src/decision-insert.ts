import { Decision } from '@app/decisions';

/** Anything that runs a parameterised statement: a data source, an entity manager, a query runner. */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

export const INSERT_DECISIONS = `
  INSERT INTO decisions (id, decided_at, flow, campaign_id, action_id, series_id, clearance_id, customer_id,
                         is_visitor, allowed, mode, policy, reason_codes, reasons, checks, latency_ms)
  SELECT id, decided_at, flow, campaign_id, action_id, series_id, clearance_id, customer_id,
         is_visitor, allowed, mode, policy, reason_codes, reasons, checks, latency_ms
  FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, decided_at timestamptz, flow text, campaign_id text,
       action_id text, series_id text, clearance_id uuid, customer_id text, is_visitor boolean, allowed boolean,
       mode text, policy text, reason_codes text[], reasons jsonb, checks jsonb, latency_ms integer)`;

function toRow(decision: Decision): Record<string, unknown> {
  return {
    id: decision.id,
    decided_at: decision.decidedAt,
    flow: decision.flow,
    campaign_id: decision.campaignId,
    action_id: decision.actionId,
    series_id: decision.seriesId,
    clearance_id: decision.clearanceId,
    customer_id: decision.customerId,
    is_visitor: decision.isVisitor,
    allowed: decision.allowed,
    mode: decision.mode,
    policy: decision.policy,
    reason_codes: decision.reasons.map((reason) => reason.code),
    reasons: decision.reasons,
    checks: decision.checks,
    latency_ms: Math.round(decision.latencyMs),
  };
}

/** The single parameter of {@link INSERT_DECISIONS}. */
export function decisionRowsParameter(decisions: readonly Decision[]): string {
  return JSON.stringify(decisions.map(toRow));
}

/**
 * Inserts decisions in one statement (through `jsonb_to_recordset`, which costs far less per row than one INSERT
 * each). Runs on whatever it is given, so that a caller can make it part of its own transaction.
 */
export async function insertDecisions(queryable: Queryable, decisions: readonly Decision[]): Promise<void> {
  if (decisions.length === 0) {
    return;
  }
  await queryable.query(INSERT_DECISIONS, [decisionRowsParameter(decisions)]);
}
