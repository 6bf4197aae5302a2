import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { Sandbox } from '../../apps/sandbox/src';

export const LISTENER_TOKEN = 'listener-token-0123456789abcdef';
export const GATEWAY_TOKEN = 'gateway-token-0123456789abcdef';

/** The service's settings that point it at the sandbox, with deadlines short enough for tests. */
export function sandboxEnv(sandbox: Sandbox, promoUrl = sandbox.promoUrl): Record<string, string> {
  return {
    LISTENER_TOKEN,
    GATEWAY_TOKEN,
    OPTIMOVE_API_URL: sandbox.optimoveUrl,
    OPTIMOVE_API_KEY: sandbox.apiKey,
    OPTIMOVE_TIMEZONE: 'Europe/London',
    OPTIMOVE_RATE_LIMIT: 'off',
    PROMO_API_URL: promoUrl,
    PROFILE_API_URL: sandbox.profileUrl,
    CLEARANCE_SAFETY_MARGIN_SECONDS: '2',
    CLEARANCE_REPORT_RESERVE_SECONDS: '2',
  };
}

/** One JSON call to the sandbox or the service; the parsed body, whatever its shape. */
export async function json(url: string, method = 'GET', body?: unknown): Promise<any> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();

  return text === '' ? undefined : JSON.parse(text);
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > giveUpAt) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await sleep(200);
  }
}

/** Creates a sandbox campaign and sends its event-5 notification straight to `serviceUrl`. */
export async function openClearance(
  sandbox: Sandbox,
  serviceUrl: string,
  campaign: Record<string, unknown>,
): Promise<{ campaignId: string; clearanceId: string; clearanceRequiredBy: Date }> {
  const created = await json(`${sandbox.optimoveUrl}/control/campaigns`, 'POST', campaign);
  const answer = await notify(serviceUrl, created.campaignId, created.clearanceRequiredBy);
  if (answer.status !== 200) {
    throw new Error(`the listener answered ${answer.status}`);
  }
  const { clearanceId } = (await answer.json()) as { clearanceId: string };

  return {
    campaignId: String(created.campaignId),
    clearanceId,
    clearanceRequiredBy: new Date(created.clearanceRequiredBy),
  };
}

export function notify(serviceUrl: string, campaignId: unknown, clearanceRequiredBy: string): Promise<Response> {
  return fetch(`${serviceUrl}/optimove/events?token=${LISTENER_TOKEN}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ EventTypeID: 5, CampaignID: campaignId, ClearanceRequiredBy: clearanceRequiredBy }),
    signal: AbortSignal.timeout(10_000),
  });
}

export interface ClearanceRow {
  status: string;
  total: number;
  approved: number;
  denied: number;
  reported: number;
  deadlineMet: boolean | null;
  finishedAt: Date | null;
}

export async function clearanceRow(dataSource: DataSource, clearanceId: string): Promise<ClearanceRow> {
  const [row] = await dataSource.query<Record<string, string | boolean | Date | null>[]>(
    `SELECT status, total, approved, denied, reported, deadline_met, finished_at FROM clearances WHERE id = $1`,
    [clearanceId],
  );

  return {
    status: String(row.status),
    total: Number(row.total),
    approved: Number(row.approved),
    denied: Number(row.denied),
    reported: Number(row.reported),
    deadlineMet: row.deadline_met as boolean | null,
    finishedAt: row.finished_at as Date | null,
  };
}

/** What the invariants of a finished clearance are checked against, read from our database. */
export interface ClearanceLedger {
  /** Customers with a number of decisions other than one. */
  notDecidedOnce: number;
  decidedCustomers: number;
  approvedDecisions: number;
  /** Customers denied only because the cut-off came first, not on their merits. */
  deniedAtCutOff: number;
  /** Customers of the campaign with more than one activation key in our ledger. */
  customersWithSeveralKeys: number;
  activatedKeys: number;
}

export async function clearanceLedger(
  dataSource: DataSource,
  clearanceId: string,
  campaignId: string,
): Promise<ClearanceLedger> {
  const [decisions] = await dataSource.query<Record<string, string | null>[]>(
    `SELECT count(*) FILTER (WHERE n <> 1) AS not_once, count(*) AS customers, sum(approved) AS approved,
            sum(late) AS late
       FROM (SELECT customer_id, count(*) AS n, count(*) FILTER (WHERE allowed) AS approved,
                    count(*) FILTER (WHERE 'DEADLINE_EXCEEDED' = ANY (reason_codes)) AS late
               FROM decisions WHERE clearance_id = $1 GROUP BY customer_id) per_customer`,
    [clearanceId],
  );
  const [keys] = await dataSource.query<Record<string, string>[]>(
    `SELECT count(*) FILTER (WHERE n > 1) AS several, coalesce(sum(activated), 0) AS activated
       FROM (SELECT customer_id, count(*) AS n, count(*) FILTER (WHERE state = 'activated') AS activated
               FROM promo_activations WHERE campaign_id = $1 AND occurrence = $2 GROUP BY customer_id) per_customer`,
    [campaignId, clearanceId],
  );

  return {
    notDecidedOnce: Number(decisions.not_once),
    decidedCustomers: Number(decisions.customers),
    approvedDecisions: Number(decisions.approved ?? 0),
    deniedAtCutOff: Number(decisions.late ?? 0),
    customersWithSeveralKeys: Number(keys.several),
    activatedKeys: Number(keys.activated),
  };
}

/** The sandbox's promo counters: `duplicates` counts (customer, code, campaign) activated under more than one key. */
export async function promoCounters(
  sandbox: Sandbox,
): Promise<{ active: number; cancelled: number; duplicates: number; count: number }> {
  const counters = await json(`${sandbox.promoUrl}/control/activations`);

  return {
    active: counters.active ?? 0,
    cancelled: counters.cancelled ?? 0,
    duplicates: counters.duplicates ?? 0,
    count: counters.count ?? 0,
  };
}
