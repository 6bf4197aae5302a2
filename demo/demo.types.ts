/** A clearance as `GET /audit/clearances/{id}` shows it (the fields the demo reads). */
export interface ClearanceView {
  id: string;
  campaignId: string;
  clearanceRequiredBy: string;
  reportBy: string;
  status: 'pending' | 'fetching' | 'deciding' | 'completed' | 'expired' | 'failed';
  total: number;
  approved: number;
  denied: number;
  pending: number;
  reported: number;
  deadlineMet: boolean | null;
  finishedAt: string | null;
}

/** `GET /audit/campaigns/{campaignId}/summary`. */
export interface CampaignSummary {
  campaignId: string;
  total: number;
  byOutcome: { flow: 'scheduled' | 'triggered'; allowed: boolean; count: number }[];
  byReason: { flow: 'scheduled' | 'triggered'; allowed: boolean; reason: string; count: number }[];
}

/** What the sandbox's Optimove made of the burst (`POST /control/triggered`), or why it was not fired. */
export type BurstOutcome =
  | {
      fired: true;
      total: number;
      sent: number;
      notSent: number;
      deniedByGateway: number;
      failures: Record<string, number>;
      latencyMs: { p50: number; p95: number; p99: number; max: number };
      timeoutMs: number;
      /** HTTP statuses of the answers that were not 2xx, with their counts. */
      httpStatuses: Record<string, number>;
      elapsedMs: number;
    }
  | { fired: false; reason: string };

export const FINISHED_STATUSES: readonly ClearanceView['status'][] = ['completed', 'expired', 'failed'];
