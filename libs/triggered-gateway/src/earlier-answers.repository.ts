import { Reason } from '@app/decisions';
import { DataSource } from 'typeorm';

/** The committed answer to an earlier request for the same campaign occurrence and customer. */
export interface EarlierAnswer {
  decisionId: string;
  allowed: boolean;
  policy: string;
  reasons: Reason[];
}

/** Marks audit records of requests that could not be read; they answer nothing and are never repeated. */
export const INVALID_REQUEST_CODE = 'INVALID_REQUEST';

interface EarlierRow {
  id: string;
  allowed: boolean;
  policy: string;
  reasons: Reason[];
}

/**
 * Finds the newest committed triggered decision for (campaign, customer), first in a bounded in-memory map of
 * answers this replica committed, then in `decisions` through the customer index (a customer has few rows).
 */
export class EarlierAnswers {
  private readonly recent = new Map<string, EarlierAnswer>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly capacity: number,
  ) {}

  async find(campaignId: string, customerId: string): Promise<EarlierAnswer | null> {
    const cached = this.recent.get(keyOf(campaignId, customerId));
    if (cached !== undefined) {
      return cached;
    }
    const rows: EarlierRow[] = await this.dataSource.query(
      `SELECT id, allowed, policy, reasons FROM decisions
       WHERE customer_id = $1 AND campaign_id = $2 AND flow = 'triggered' AND NOT ($3 = ANY (reason_codes))
       ORDER BY decided_at DESC, id DESC LIMIT 1`,
      [customerId, campaignId, INVALID_REQUEST_CODE],
    );
    if (rows.length === 0) {
      return null;
    }
    const row = rows[0];
    const answer: EarlierAnswer = {
      decisionId: row.id,
      allowed: row.allowed,
      policy: row.policy,
      reasons: row.reasons,
    };
    this.remember(campaignId, customerId, answer);

    return answer;
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
