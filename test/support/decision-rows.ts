import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';

export interface DecisionRowSeed {
  id?: string;
  decidedAt?: Date;
  flow?: 'scheduled' | 'triggered';
  campaignId?: string | null;
  customerId?: string;
  clearanceId?: string | null;
  allowed?: boolean;
  reasons?: string[];
}

/** Inserts audit rows directly, for tests of the read side; returns their ids in insertion order. */
export async function insertDecisionRows(dataSource: DataSource, seeds: DecisionRowSeed[]): Promise<string[]> {
  const rows = seeds.map((seed) => {
    const reasons = seed.reasons ?? [];

    return {
      id: seed.id ?? randomUUID(),
      decided_at: (seed.decidedAt ?? new Date()).toISOString(),
      flow: seed.flow ?? 'triggered',
      campaign_id: seed.campaignId === undefined ? '100' : seed.campaignId,
      customer_id: seed.customerId ?? 'C1',
      clearance_id: seed.clearanceId ?? null,
      allowed: seed.allowed ?? reasons.length === 0,
      reason_codes: reasons,
      reasons: reasons.map((code) => ({ code, message: `${code} (test)` })),
    };
  });
  await dataSource.query(
    `INSERT INTO decisions (id, decided_at, flow, campaign_id, customer_id, clearance_id, allowed, mode, policy,
                            reason_codes, reasons, checks, latency_ms)
     SELECT id, decided_at, flow, campaign_id, customer_id, clearance_id, allowed, 'enforce', 'default',
            reason_codes, reasons, '[]'::jsonb, 3
       FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, decided_at timestamptz, flow text, campaign_id text,
            customer_id text, clearance_id uuid, allowed boolean, reason_codes text[], reasons jsonb)`,
    [JSON.stringify(rows)],
  );

  return rows.map((row) => row.id);
}
