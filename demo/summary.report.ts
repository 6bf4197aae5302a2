import { BurstOutcome, CampaignSummary, ClearanceView } from './demo.types';
import { formatCount, formatSeconds } from './progress.display';

const LABEL_WIDTH = 34;
const NUMBER_WIDTH = 9;

/** Everything the summary shows; gathered after the clearance finished and the burst came back. */
export interface SummaryInput {
  clearance: ClearanceView;
  scheduled: CampaignSummary;
  /** How many approvals the Optimove stand-in holds for the campaign: the other side's view of the reports. */
  optimoveApprovals?: number;
  triggeredCampaignId: string;
  triggered?: CampaignSummary;
  burst: BurstOutcome;
}

/** Where and how to look further: the printed commands use these. */
export interface QueryHints {
  serviceUrl: string;
  auditorKey: string;
  keepRunning: boolean;
  logPath: string;
  dataDir: string;
}

const row = (label: string, value: string, indent = 4): string =>
  `${' '.repeat(indent)}${label.padEnd(LABEL_WIDTH - indent + 4)}${value.padStart(NUMBER_WIDTH)}`;

function deniedByReason(summary: CampaignSummary | undefined, flow: 'scheduled' | 'triggered'): string[] {
  return (summary?.byReason ?? [])
    .filter((entry) => entry.flow === flow && !entry.allowed)
    .map((entry) => row(entry.reason, formatCount(entry.count), 6));
}

function outcomeCount(summary: CampaignSummary | undefined, flow: string, allowed: boolean): number {
  return (summary?.byOutcome ?? [])
    .filter((entry) => entry.flow === flow && entry.allowed === allowed)
    .reduce((sum, entry) => sum + entry.count, 0);
}

/** The summary's lines, below a heading the caller prints. */
export function renderSummary(input: SummaryInput): string {
  const { clearance, burst } = input;
  const lines = [
    `  Scheduled campaign ${clearance.campaignId}: ${formatCount(clearance.total)} customers, ` +
      `clearance ${clearance.id}`,
    row('status', clearance.status),
    row('approved', formatCount(clearance.approved)),
    row('denied', formatCount(clearance.denied)),
    ...deniedByReason(input.scheduled, 'scheduled'),
    row('reported to Optimove', formatCount(clearance.reported)),
  ];
  if (input.optimoveApprovals !== undefined) {
    lines.push(row('approvals Optimove holds', formatCount(input.optimoveApprovals)));
  }
  if (clearance.finishedAt) {
    const spare = (Date.parse(clearance.clearanceRequiredBy) - Date.parse(clearance.finishedAt)) / 1000;
    lines.push(row('time to spare before the deadline', formatSeconds(spare)));
  }
  lines.push(row('deadline met', clearance.deadlineMet === null ? 'n/a' : clearance.deadlineMet ? 'yes' : 'NO'));

  lines.push(`  Triggered campaign ${input.triggeredCampaignId}: requests through the gateway`);
  if (!burst.fired) {
    lines.push(`    not fired: ${burst.reason}`);
  } else {
    lines.push(
      row('requests', formatCount(burst.total)),
      row('allowed', formatCount(outcomeCount(input.triggered, 'triggered', true))),
      row('denied', formatCount(outcomeCount(input.triggered, 'triggered', false))),
      ...deniedByReason(input.triggered, 'triggered'),
      row('sent (Optimove got allowed: true)', formatCount(burst.sent)),
      row('not sent', formatCount(burst.notSent)),
      row('gateway latency p50', `${burst.latencyMs.p50} ms`),
      row('gateway latency p95', `${burst.latencyMs.p95} ms`),
      row('gateway latency max', `${burst.latencyMs.max} ms`),
      row("Optimove's timeout", `${burst.timeoutMs} ms`),
    );
    const failures = Object.entries(burst.failures).filter(([, count]) => count > 0);
    if (failures.length > 0) {
      const statuses = Object.entries(burst.httpStatuses).map(([status, count]) => `HTTP ${status} x${count}`);
      lines.push(
        `    gateway failures: ${failures.map(([kind, count]) => `${kind} ${formatCount(count)}`).join(', ')}` +
          (statuses.length > 0 ? ` (${statuses.join(', ')})` : ''),
      );
    }
  }
  lines.push('    (a decision with several reasons counts once under each)');

  return lines.join('\n');
}

/** Commands to look further, below a heading the caller prints. */
export function renderQueryHints(input: SummaryInput, hints: QueryHints): string {
  const curl = (path: string): string =>
    `  curl -s -H 'Authorization: Bearer ${hints.auditorKey}' '${hints.serviceUrl}${path}'`;
  const campaignId = input.clearance.campaignId;
  const lines = [
    curl(`/audit/clearances/${input.clearance.id}`),
    curl(`/audit/campaigns/${campaignId}/summary`),
    curl(`/audit/campaigns/${input.triggeredCampaignId}/summary`),
    curl(`/audit/decisions?campaignId=${campaignId}&allowed=false&limit=5`),
    curl(`/audit/decisions?flow=triggered&campaignId=${input.triggeredCampaignId}&limit=5`),
    `${curl(`/audit/decisions/export?format=csv&campaignId=${campaignId}`)} > decisions.csv`,
    `  OpenAPI: ${hints.serviceUrl}/docs`,
    '',
    hints.keepRunning
      ? 'The service and the sandbox keep running for these commands; Ctrl-C stops them.'
      : 'The service and the sandbox stop with the demo: run `DEMO_KEEP_RUNNING=1 npm run demo` to keep them up ' +
        'until Ctrl-C.',
    `Logs: ${hints.logPath}`,
    `Data: ${hints.dataDir} (remove it when done)`,
  ];

  return lines.join('\n');
}
