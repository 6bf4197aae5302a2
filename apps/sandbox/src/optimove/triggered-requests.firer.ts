import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

export type TriggerFailure = 'timeout' | 'http_status' | 'malformed' | 'user_mismatch' | 'network';

/** What Optimove made of one gateway call: `sent` only for a timely, well-formed `allowed: true` for the same user. */
export interface TriggerResult {
  user_id: string;
  sent: boolean;
  allowed?: boolean;
  status?: number;
  latencyMs: number;
  failure?: TriggerFailure;
}

export interface GatewaySettings {
  url: string;
  timeoutMs: number;
}

export interface FiringPlan {
  userIds: string[];
  campaign: Record<string, unknown>;
  isVisitor: boolean;
  concurrency: number;
  ratePerSecond?: number;
}

/** The campaign part of the gateway JSON when the caller gives none, shaped as in Optimove's article. */
export function defaultTriggeredCampaign(): Record<string, unknown> {
  return {
    id: 5001,
    series_id: 501,
    notes: 'sandbox triggered campaign',
    tags: ['sandbox'],
    action: {
      id: 1,
      name: 'Sandbox action',
      promo_codes: null,
      channels: [{ id: 504, name: 'Email', brand_id: null, templates: [{ id: 1, name: 'Sandbox template' }] }],
    },
  };
}

async function callGateway(
  agent: Agent,
  gateway: GatewaySettings,
  userId: string,
  body: string,
): Promise<TriggerResult> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), gateway.timeoutMs);
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await request(gateway.url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      signal: controller.signal,
    });
    const text = await response.body.text();
    const latencyMs = elapsed();
    const status = response.statusCode;
    if (latencyMs > gateway.timeoutMs) {
      return { user_id: userId, sent: false, status, latencyMs, failure: 'timeout' };
    }
    if (status < 200 || status > 299) {
      return { user_id: userId, sent: false, status, latencyMs, failure: 'http_status' };
    }

    return judgeAnswer(userId, text, status, latencyMs);
  } catch {
    const latencyMs = elapsed();
    const failure: TriggerFailure = controller.signal.aborted ? 'timeout' : 'network';

    return { user_id: userId, sent: false, latencyMs, failure };
  } finally {
    clearTimeout(timer);
  }
}

function judgeAnswer(userId: string, text: string, status: number, latencyMs: number): TriggerResult {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return { user_id: userId, sent: false, status, latencyMs, failure: 'malformed' };
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    return { user_id: userId, sent: false, status, latencyMs, failure: 'malformed' };
  }
  const { user_id: answeredUser, allowed } = answer as { user_id?: unknown; allowed?: unknown };
  if (typeof allowed !== 'boolean') {
    return { user_id: userId, sent: false, status, latencyMs, failure: 'malformed' };
  }
  if ((typeof answeredUser !== 'string' && typeof answeredUser !== 'number') || String(answeredUser) !== userId) {
    return { user_id: userId, sent: false, allowed, status, latencyMs, failure: 'user_mismatch' };
  }

  return { user_id: userId, sent: allowed, allowed, status, latencyMs };
}

/**
 * Fires one gateway call per user, as Optimove does when users meet a trigger: at most `concurrency` in
 * flight, optionally paced to `ratePerSecond`, each abandoned at the gateway's timeout.
 */
export async function fireTriggered(gateway: GatewaySettings, plan: FiringPlan): Promise<TriggerResult[]> {
  const results = new Array<TriggerResult>(plan.userIds.length);
  const agent = new Agent({ connections: plan.concurrency, keepAliveTimeout: 5_000 });
  const startedAt = performance.now();
  const campaignJson = JSON.stringify(plan.campaign);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.userIds.length) {
      const index = next++;
      if (plan.ratePerSecond) {
        const due = startedAt + (index * 1000) / plan.ratePerSecond;
        const wait = due - performance.now();
        if (wait > 0) {
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
      const userId = plan.userIds[index];
      const user = JSON.stringify({ user_id: userId, is_visitor: plan.isVisitor });
      const body = `{"user":${user},"campaign":${campaignJson}}`;
      results[index] = await callGateway(agent, gateway, userId, body);
    }
  };
  try {
    const workers = Math.max(1, Math.min(plan.concurrency, plan.userIds.length));
    await Promise.all(Array.from({ length: workers }, () => worker()));
  } finally {
    await agent.destroy();
  }

  return results;
}

/** Counts and latency percentiles of a firing. */
export function summarise(results: TriggerResult[]): Record<string, unknown> {
  const failures: Partial<Record<TriggerFailure, number>> = {};
  let sent = 0;
  let deniedByGateway = 0;
  for (const result of results) {
    if (result.sent) {
      sent++;
    } else if (result.failure) {
      failures[result.failure] = (failures[result.failure] ?? 0) + 1;
    } else {
      deniedByGateway++;
    }
  }
  const latencies = results.map((result) => result.latencyMs).sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];

  return {
    sent,
    notSent: results.length - sent,
    deniedByGateway,
    failures,
    latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: latencies[latencies.length - 1] ?? 0 },
  };
}
