import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface CampaignSummary {
  campaignId: string;
  total: number;
  /** Decisions by flow and outcome. */
  byOutcome: { flow: 'scheduled' | 'triggered'; allowed: boolean; count: number }[];
  /** Decisions by flow, outcome and reason; a decision with several reasons counts once under each. */
  byReason: { flow: 'scheduled' | 'triggered'; allowed: boolean; reason: string; count: number }[];
}

@Injectable()
export class CampaignSummaryReader {
  constructor(private readonly dataSource: DataSource) {}

  async summarise(campaignId: string): Promise<CampaignSummary> {
    const outcomes: { flow: 'scheduled' | 'triggered'; allowed: boolean; count: string }[] =
      await this.dataSource.query(
        `SELECT flow, allowed, count(*) AS count FROM decisions WHERE campaign_id = $1
        GROUP BY flow, allowed ORDER BY flow, allowed DESC`,
        [campaignId],
      );
    const reasons: { flow: 'scheduled' | 'triggered'; allowed: boolean; reason: string; count: string }[] =
      await this.dataSource.query(
        `SELECT d.flow, d.allowed, r.reason, count(*) AS count
           FROM decisions d CROSS JOIN LATERAL unnest(d.reason_codes) AS r(reason)
          WHERE d.campaign_id = $1
          GROUP BY d.flow, d.allowed, r.reason ORDER BY count(*) DESC, r.reason`,
        [campaignId],
      );
    const byOutcome = outcomes.map((row) => ({ flow: row.flow, allowed: row.allowed, count: Number(row.count) }));

    return {
      campaignId,
      total: byOutcome.reduce((sum, row) => sum + row.count, 0),
      byOutcome,
      byReason: reasons.map((row) => ({ ...row, count: Number(row.count) })),
    };
  }
}
