import { BadRequestException, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export const CLEARANCE_STATUSES = ['pending', 'fetching', 'deciding', 'completed', 'expired', 'failed'] as const;
export type ClearanceStatus = (typeof CLEARANCE_STATUSES)[number];

/** A clearance as the audit API shows it, with live counts. */
export interface ClearanceView {
  id: string;
  campaignId: string;
  clearanceRequiredBy: string;
  reportBy: string;
  source: 'optimove' | 'admin';
  status: ClearanceStatus;
  total: number;
  approved: number;
  denied: number;
  pending: number;
  reported: number;
  deadlineMet: boolean | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

interface ClearanceRow {
  id: string;
  campaign_id: string;
  clearance_required_by: Date;
  report_by: Date;
  source: ClearanceView['source'];
  status: ClearanceStatus;
  total: string;
  approved: string;
  denied: string;
  reported: string;
  deadline_met: boolean | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const LIST_LIMIT = 200;

@Injectable()
export class ClearanceReader {
  constructor(private readonly dataSource: DataSource) {}

  async list(query: Record<string, unknown>): Promise<ClearanceView[]> {
    const { campaignId, status } = parseClearanceQuery(query);
    const rows: ClearanceRow[] = await this.dataSource.query(
      `SELECT * FROM clearances
        WHERE ($1::text IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY created_at DESC, id DESC LIMIT ${LIST_LIMIT}`,
      [campaignId ?? null, status ?? null],
    );

    return rows.map(toView);
  }

  async findById(id: string): Promise<ClearanceView | undefined> {
    const rows: ClearanceRow[] = await this.dataSource.query(`SELECT * FROM clearances WHERE id = $1`, [id]);

    return rows[0] && toView(rows[0]);
  }
}

function parseClearanceQuery(query: Record<string, unknown>): { campaignId?: string; status?: ClearanceStatus } {
  const problems: string[] = [];
  const parameters: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (name !== 'campaignId' && name !== 'status') {
      problems.push(`${name} is not a known parameter`);
      parameters.push(name);
    } else if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`${name} must be given once and not be empty`);
      parameters.push(name);
    }
  }
  const status = query.status as string | undefined;
  if (typeof status === 'string' && !(CLEARANCE_STATUSES as readonly string[]).includes(status)) {
    problems.push(`status must be one of ${CLEARANCE_STATUSES.join(', ')}`);
    parameters.push('status');
  }
  if (problems.length > 0) {
    throw new BadRequestException({ message: problems.join('; '), parameters });
  }

  return { campaignId: query.campaignId as string | undefined, status: status as ClearanceStatus | undefined };
}

function toView(row: ClearanceRow): ClearanceView {
  const total = Number(row.total);
  const approved = Number(row.approved);
  const denied = Number(row.denied);

  return {
    id: row.id,
    campaignId: row.campaign_id,
    clearanceRequiredBy: row.clearance_required_by.toISOString(),
    reportBy: row.report_by.toISOString(),
    source: row.source,
    status: row.status,
    total,
    approved,
    denied,
    pending: Math.max(0, total - approved - denied),
    reported: Number(row.reported),
    deadlineMet: row.deadline_met,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: row.finished_at ? row.finished_at.toISOString() : null,
  };
}
