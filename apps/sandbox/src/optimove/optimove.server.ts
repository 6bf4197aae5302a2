import { FastifyReply, FastifyRequest } from 'fastify';
import {
  defaultFaults,
  getIgnoreCase,
  isControlPath,
  isRecord,
  mergeFaults,
  StandInServer,
} from '../common/stand-in.server';
import { formatZoned, parseOptimoveTime } from '../common/zoned-time.util';
import { RateLimitSettings } from '../sandbox.options';
import { Campaign, CampaignStore, StatusEntry } from './campaign.store';
import { SlidingWindowLimiter } from './sliding-window.limiter';
import { defaultTriggeredCampaign, fireTriggered, GatewaySettings, summarise } from './triggered-requests.firer';

export interface OptimoveStandInOptions {
  apiKey: string;
  timezone: string;
  rateLimit: RateLimitSettings | false;
  logger: (line: string) => void;
}

interface Listener {
  EventTypeID: number;
  ListenerURL: string;
  ChannelID: number | null;
}

/** Optimove documents at most 10,000 rows a page and 10,000 customers a status update. */
const MAX_PAGE = 10_000;
const MAX_UPDATE = 10_000;
const DEFAULT_GATEWAY_TIMEOUT_MS = 2_000;
const MAX_TRIGGERED = 1_000_000;
const OPTIONAL_PREFIX = /^\/(?:current|v3\.0)(?=[/?]|$)/i;
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

interface Params {
  id: string;
}

function asInteger(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

function asCampaignId(value: unknown): string | number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && value.trim() !== '') {
    return /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : value.trim();
  }

  return undefined;
}

/** The Optimove stand-in: the API calls of Conditional Execution, plus a control API that plays Optimove's part. */
export class OptimoveStandIn {
  readonly server: StandInServer;
  private readonly campaigns = new CampaignStore();
  private readonly listeners = new Map<string, Listener>();
  private readonly limiter: SlidingWindowLimiter;
  private gateway: GatewaySettings | undefined;
  private calls: Record<string, number> = {};

  constructor(private readonly options: OptimoveStandInOptions) {
    this.limiter = new SlidingWindowLimiter(options.rateLimit);
    this.server = new StandInServer({
      // Optimove's classic endpoints answer errors as a bare JSON string.
      errorBody: (_status, message) => JSON.stringify(message),
      latencyInHook: true,
      rewriteUrl: (url) => {
        const stripped = url.replace(OPTIONAL_PREFIX, '');

        return stripped === '' || stripped.startsWith('?') ? `/${stripped}` : stripped;
      },
    });
    this.installGuards();
    this.installApi();
    this.installControl();
  }

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }

  private fail(reply: FastifyReply, status: number, message: string): FastifyReply {
    return this.server.sendError(reply, status, message);
  }

  private installGuards(): void {
    this.server.app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (isControlPath(req.url)) {
        return;
      }
      const key = req.headers['x-api-key'];
      if (typeof key !== 'string' || key !== this.options.apiKey) {
        this.count('unauthorized');

        return this.fail(reply, 401, 'Unauthorized');
      }
      const waitMs = this.limiter.take(key);
      if (waitMs > 0) {
        this.count('rateLimited');
        const limit = this.limiter.current as RateLimitSettings;
        const message = `Rate limit of ${limit.requests} requests per ${limit.windowMs / 1000} seconds exceeded`;

        return reply
          .code(429)
          .header('retry-after', String(Math.max(1, Math.ceil(waitMs / 1000))))
          .send({ status: 429, error: 'Too Many Requests', message });
      }
    });
  }

  private installApi(): void {
    const app = this.server.app;

    app.post('/General/RegisterEventListener', async (req, reply) => {
      this.count('registerEventListener');
      const eventTypeId = asInteger(getIgnoreCase(req.body, 'EventTypeID'));
      const listenerUrl = getIgnoreCase(req.body, 'ListenerURL');
      const channel = getIgnoreCase(req.body, 'ChannelID');
      const channelId = channel === undefined || channel === null ? null : asInteger(channel);
      if (eventTypeId === undefined || eventTypeId < 1) {
        return this.fail(reply, 400, 'EventTypeID is required');
      }
      if (typeof listenerUrl !== 'string' || !URL.canParse(decodeURIComponentSafe(listenerUrl))) {
        return this.fail(reply, 400, 'ListenerURL must be an absolute URL');
      }
      if (channelId === undefined) {
        return this.fail(reply, 400, 'ChannelID must be an integer');
      }
      if (eventTypeId === 5 && channelId !== null) {
        return this.fail(reply, 400, 'EventTypeID 5 must be registered without a ChannelID');
      }
      const listener: Listener = {
        EventTypeID: eventTypeId,
        ListenerURL: decodeURIComponentSafe(listenerUrl),
        ChannelID: channelId,
      };
      this.listeners.set(`${eventTypeId}:${channelId ?? ''}`, listener);

      return reply.code(200).send();
    });

    app.post('/General/UnregisterEventListener', async (req, reply) => {
      this.count('unregisterEventListener');
      const eventTypeId = asInteger(getIgnoreCase(req.body, 'EventTypeID'));
      const channel = getIgnoreCase(req.body, 'ChannelID');
      if (eventTypeId === undefined) {
        return this.fail(reply, 400, 'EventTypeID is required');
      }
      const channelId = channel === undefined || channel === null ? null : asInteger(channel);
      this.listeners.delete(`${eventTypeId}:${channelId ?? ''}`);

      return reply.code(200).send();
    });

    const listListeners = (): Listener[] => {
      this.count('getRegisteredEventListeners');

      return [...this.listeners.values()];
    };
    app.get('/General/GetRegisteredEventListeners', listListeners);
    app.get('/General/GetRegisteredEventListener', listListeners);

    app.put('/triggered_conditional_execution_gateway', async (req, reply) => {
      this.count('setGateway');
      const url = getIgnoreCase(req.body, 'GatewayURL', 'Url', 'URL', 'gatewayUrl');
      const timeout = getIgnoreCase(req.body, 'Timeout', 'TimeoutMs');
      if (typeof url !== 'string' || !URL.canParse(url)) {
        return this.fail(reply, 400, 'GatewayURL must be an absolute URL');
      }
      const timeoutMs = timeout === undefined || timeout === null ? DEFAULT_GATEWAY_TIMEOUT_MS : asInteger(timeout);
      if (timeoutMs === undefined || timeoutMs < 0 || timeoutMs > 2500) {
        return this.fail(reply, 400, 'Timeout must be an integer from 0 to 2500 milliseconds');
      }
      this.gateway = { url, timeoutMs };

      return reply.code(200).send();
    });

    app.get('/triggered_conditional_execution_gateway', async (_req, reply) =>
      this.gateway
        ? { GatewayURL: this.gateway.url, Timeout: this.gateway.timeoutMs }
        : this.fail(reply, 404, 'No gateway set'),
    );

    app.get('/Customers/GetProcessedCampaignCustomers', async (req, reply) => {
      this.count('getProcessedCampaignCustomers');
      const query = req.query;
      const campaignId = getIgnoreCase(query, 'CampaignID');
      const topText = getIgnoreCase(query, '$top', 'top');
      const skipText = getIgnoreCase(query, '$skip', 'skip');
      const top = topText === undefined ? MAX_PAGE : asInteger(topText);
      const skip = skipText === undefined ? 0 : asInteger(skipText);
      if (campaignId === undefined || campaignId === '') {
        return this.fail(reply, 400, 'CampaignID is required');
      }
      if (top === undefined || top < 0 || top > MAX_PAGE) {
        return this.fail(reply, 400, `$top must be an integer from 0 to ${MAX_PAGE}`);
      }
      if (skip === undefined || skip < 0) {
        return this.fail(reply, 400, '$skip must be a non-negative integer');
      }
      const campaign = this.campaigns.get(campaignId);
      if (!campaign) {
        return this.fail(reply, 404, `Campaign ${JSON.stringify(campaignId)} not found`);
      }

      return reply.type('application/json; charset=utf-8').send(campaign.pageJson(skip, top));
    });

    app.post('/Integrations/UpdateCustomerPromotionStatus', async (req, reply) => {
      this.count('updateCustomerPromotionStatus');
      const body = req.body;
      const campaign = this.campaigns.get(getIgnoreCase(body, 'CampaignID'));
      const timeStamp = getIgnoreCase(body, 'TimeStamp');
      const updates = getIgnoreCase(body, 'PromosUpdated');
      if (!isRecord(body)) {
        return this.fail(reply, 400, 'Body must be a JSON object');
      }
      if (typeof timeStamp !== 'string' || !LOCAL_TIME.test(timeStamp)) {
        return this.fail(reply, 400, "TimeStamp must be 'YYYY-MM-DD HH:MM:SS'");
      }
      if (!Array.isArray(updates)) {
        return this.fail(reply, 400, 'PromosUpdated must be an array');
      }
      if (!campaign) {
        return this.fail(reply, 404, `Campaign ${JSON.stringify(getIgnoreCase(body, 'CampaignID'))} not found`);
      }
      if (updates.length > MAX_UPDATE) {
        campaign.rejectedUpdates++;

        return this.fail(reply, 400, `PromosUpdated may hold at most ${MAX_UPDATE} customers`);
      }
      const now = Date.now();
      if (now > campaign.spec.clearanceRequiredBy) {
        campaign.rejectedUpdates++;
        const deadline = formatZoned(campaign.spec.clearanceRequiredBy, this.options.timezone);

        return this.fail(reply, 400, `ClearanceRequiredBy (${deadline}) has passed for campaign ${campaign.key}`);
      }
      const entries = parseEntries(updates);
      if (typeof entries === 'string') {
        campaign.rejectedUpdates++;

        return this.fail(reply, 400, entries);
      }
      campaign.applyStatuses(entries, timeStamp, now);

      return reply.code(200).send();
    });
  }

  private installControl(): void {
    const app = this.server.app;

    app.post('/control/campaigns', async (req, reply) => {
      const spec = this.parseCampaign(req.body);
      if (typeof spec === 'string') {
        return reply.code(400).send({ error: spec });
      }
      const campaign = this.campaigns.create(spec);
      this.options.logger(`optimove: campaign ${campaign.key} created with ${campaign.spec.size} customers`);

      return this.describe(campaign);
    });

    app.get('/control/campaigns', () => ({ campaigns: this.campaigns.list().map((c) => this.describe(c)) }));

    app.get<{ Params: Params }>('/control/campaigns/:id', async (req, reply) => {
      const campaign = this.campaigns.get(req.params.id);

      return campaign ? this.describe(campaign) : reply.code(404).send({ error: 'unknown campaign' });
    });

    app.patch<{ Params: Params }>('/control/campaigns/:id', async (req, reply) => {
      const campaign = this.campaigns.get(req.params.id);
      if (!campaign) {
        return reply.code(404).send({ error: 'unknown campaign' });
      }
      const deadline = this.parseDeadline(req.body, Date.now());
      if (typeof deadline === 'string') {
        return reply.code(400).send({ error: deadline });
      }
      campaign.spec.clearanceRequiredBy = deadline ?? campaign.spec.clearanceRequiredBy;

      return this.describe(campaign);
    });

    app.delete<{ Params: Params }>('/control/campaigns/:id', async (req, reply) =>
      this.campaigns.delete(req.params.id) ? { deleted: true } : reply.code(404).send({ error: 'unknown campaign' }),
    );

    app.post<{ Params: Params }>('/control/campaigns/:id/notify', async (req, reply) => {
      const campaign = this.campaigns.get(req.params.id);
      if (!campaign) {
        return reply.code(404).send({ error: 'unknown campaign' });
      }
      const listener = this.listeners.get('5:') ?? [...this.listeners.values()].find((l) => l.EventTypeID === 5);
      if (!listener) {
        return reply.code(409).send({ error: 'no listener is registered for EventTypeID 5' });
      }
      const timeoutValue = getIgnoreCase(req.body, 'timeoutMs');
      const timeoutMs = typeof timeoutValue === 'number' && timeoutValue > 0 ? timeoutValue : 10_000;

      return this.notify(campaign, listener, timeoutMs);
    });

    app.get<{ Params: Params; Querystring: Record<string, string> }>(
      '/control/campaigns/:id/outcome',
      async (req, reply) => {
        const campaign = this.campaigns.get(req.params.id);
        if (!campaign) {
          return reply.code(404).send({ error: 'unknown campaign' });
        }
        if (Date.now() <= campaign.spec.clearanceRequiredBy) {
          return { final: false, approvedSoFar: campaign.approvedCount, clearanceRequiredBy: this.iso(campaign) };
        }
        const withIds = req.query.customerIds === 'true' || campaign.approvedCount <= MAX_PAGE;

        return {
          final: true,
          sentTo: campaign.approvedCount,
          notSentTo: campaign.spec.size - campaign.approvedCount,
          unknownCustomersApproved: campaign.unknownApprovedCount,
          ...(withIds ? { customerIds: campaign.approvedIds() } : {}),
        };
      },
    );

    app.get<{ Params: Params & { customerId: string } }>(
      '/control/campaigns/:id/customers/:customerId',
      async (req, reply) => {
        const campaign = this.campaigns.get(req.params.id);
        if (!campaign) {
          return reply.code(404).send({ error: 'unknown campaign' });
        }
        const inTargetGroup = campaign.customerNumber(req.params.customerId) > 0;

        return {
          customerId: req.params.customerId,
          inTargetGroup,
          status: campaign.statusOf(req.params.customerId) ?? null,
        };
      },
    );

    app.post('/control/triggered', async (req, reply) => this.fire(req.body, reply));

    app.get('/control/state', () => ({
      timezone: this.options.timezone,
      now: formatZoned(Date.now(), this.options.timezone),
      listeners: [...this.listeners.values()],
      gateway: this.gateway ?? null,
      rateLimit: this.limiter.current,
      faults: this.server.faults,
      campaigns: this.campaigns.list().length,
      calls: this.calls,
    }));

    app.get('/control/faults', () => this.server.faults);
    app.put('/control/faults', async (req, reply) => {
      const next = mergeFaults(this.server.faults, req.body);
      if (typeof next === 'string') {
        return reply.code(400).send({ error: next });
      }
      this.server.faults = next;
      if (next.outage !== 'blackhole') {
        this.server.releaseHeld();
      }

      return next;
    });
    app.delete('/control/faults', () => {
      this.server.faults = defaultFaults();
      this.server.releaseHeld();

      return this.server.faults;
    });

    app.get('/control/rate-limit', () => ({ rateLimit: this.limiter.current }));
    app.put('/control/rate-limit', async (req, reply) => {
      const body = req.body;
      if (isRecord(body) && (body.off === true || body.enabled === false)) {
        this.limiter.configure(false);

        return { rateLimit: false };
      }
      const requests = asInteger(getIgnoreCase(body, 'requests'));
      const windowMs = getIgnoreCase(body, 'windowMs');
      if (requests === undefined || requests < 1 || typeof windowMs !== 'number' || !(windowMs > 0)) {
        return reply.code(400).send({ error: 'expected {requests >= 1, windowMs > 0} or {off: true}' });
      }
      this.limiter.configure({ requests, windowMs });

      return { rateLimit: this.limiter.current };
    });

    app.post('/control/reset', () => {
      this.campaigns.clear();
      this.listeners.clear();
      this.gateway = undefined;
      this.calls = {};
      this.limiter.configure(this.options.rateLimit);
      this.server.faults = defaultFaults();
      this.server.releaseHeld();

      return { reset: true };
    });
  }

  private iso(campaign: Campaign): string {
    return new Date(campaign.spec.clearanceRequiredBy).toISOString();
  }

  private describe(campaign: Campaign): Record<string, unknown> {
    return {
      campaignId: campaign.spec.campaignId,
      size: campaign.spec.size,
      rows: campaign.totalRows,
      customerIdPrefix: campaign.spec.customerIdPrefix,
      promoCodes: campaign.spec.promoCodes,
      clearanceRequiredBy: this.iso(campaign),
      clearanceRequiredByLocal: formatZoned(campaign.spec.clearanceRequiredBy, this.options.timezone),
      timezone: this.options.timezone,
      deadlinePassed: Date.now() > campaign.spec.clearanceRequiredBy,
      approvedCount: campaign.approvedCount,
      deniedCount: campaign.deniedCount,
      withdrawnCount: campaign.withdrawnCount,
      unknownCustomerUpdates: campaign.unknownCustomerUpdates,
      updateCalls: campaign.updateCalls,
      rejectedUpdates: campaign.rejectedUpdates,
      entriesReceived: campaign.entriesReceived,
      pagesServed: campaign.pagesServed,
      notifications: campaign.notifications,
      lastUpdateAt: campaign.lastUpdateAt === undefined ? null : new Date(campaign.lastUpdateAt).toISOString(),
      lastTimeStamp: campaign.lastTimeStamp ?? null,
    };
  }

  private parseDeadline(body: unknown, now: number): number | undefined | string {
    const explicit = getIgnoreCase(body, 'clearanceRequiredBy');
    if (explicit !== undefined) {
      const at = typeof explicit === 'string' ? parseOptimoveTime(explicit, this.options.timezone) : undefined;

      return at ?? 'clearanceRequiredBy must be ISO 8601 with an offset, or YYYY-MM-DD HH:MM:SS in the zone';
    }
    const minutes = getIgnoreCase(body, 'leadTimeMinutes');
    const seconds = getIgnoreCase(body, 'leadTimeSeconds');
    if (minutes === undefined && seconds === undefined) {
      return undefined;
    }
    const leadMs = typeof seconds === 'number' ? seconds * 1000 : typeof minutes === 'number' ? minutes * 60_000 : NaN;
    if (!Number.isFinite(leadMs)) {
      return 'leadTimeMinutes and leadTimeSeconds must be numbers';
    }

    // Whole seconds, so that the ISO deadline and the 'YYYY-MM-DD HH:MM:SS' one are the same instant.
    return Math.floor((now + leadMs) / 1000) * 1000;
  }

  private parseCampaign(body: unknown): Parameters<CampaignStore['create']>[0] | string {
    if (!isRecord(body)) {
      return 'body must be a JSON object';
    }
    const size = body.size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 100_000_000) {
      return 'size must be an integer from 0 to 100,000,000';
    }
    const promoCodes = body.promoCodes ?? [];
    if (!Array.isArray(promoCodes) || promoCodes.some((code) => typeof code !== 'string')) {
      return 'promoCodes must be an array of strings';
    }
    const prefix = body.customerIdPrefix ?? 'C';
    if (typeof prefix !== 'string') {
      return 'customerIdPrefix must be a string';
    }
    const duplicateRate = body.duplicateRate ?? 0;
    if (typeof duplicateRate !== 'number' || duplicateRate < 0 || duplicateRate > 1) {
      return 'duplicateRate must be a number from 0 to 1';
    }
    const firstActionId = body.firstActionId ?? 1;
    if (typeof firstActionId !== 'number' || !Number.isInteger(firstActionId)) {
      return 'firstActionId must be an integer';
    }
    const campaignId = body.campaignId === undefined ? undefined : asCampaignId(body.campaignId);
    if (body.campaignId !== undefined && campaignId === undefined) {
      return 'campaignId must be a number or a non-empty string';
    }
    const now = Date.now();
    const deadline = this.parseDeadline({ leadTimeMinutes: 45, ...body }, now);
    if (typeof deadline === 'string') {
      return deadline;
    }

    return {
      campaignId,
      size,
      promoCodes: promoCodes as string[],
      customerIdPrefix: prefix,
      duplicateRate,
      firstActionId,
      clearanceRequiredBy: deadline ?? now,
    };
  }

  private async notify(campaign: Campaign, listener: Listener, timeoutMs: number): Promise<Record<string, unknown>> {
    const zone = this.options.timezone;
    const payload = {
      EventTypeID: 5,
      TimeStamp: formatZoned(Date.now(), zone),
      CampaignID: campaign.spec.campaignId,
      ClearanceRequiredBy: formatZoned(campaign.spec.clearanceRequiredBy, zone),
    };
    campaign.notifications++;
    const started = Date.now();
    try {
      const response = await fetch(listener.ListenerURL, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        // Not JSON: report the text as it came.
      }
      this.options.logger(`optimove: event 5 for campaign ${campaign.key} answered ${response.status}`);

      return { status: response.status, body, latencyMs: Date.now() - started, sent: payload };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);

      return { status: 0, body: null, error: message, latencyMs: Date.now() - started, sent: payload };
    }
  }

  private async fire(body: unknown, reply: FastifyReply): Promise<unknown> {
    if (!this.gateway) {
      return reply.code(409).send({ error: 'no gateway is set: PUT /triggered_conditional_execution_gateway first' });
    }
    const request = isRecord(body) ? body : {};
    let userIds: string[];
    if (request.customerIds !== undefined) {
      if (!Array.isArray(request.customerIds) || request.customerIds.some((id) => typeof id !== 'string')) {
        return reply.code(400).send({ error: 'customerIds must be an array of strings' });
      }
      userIds = request.customerIds as string[];
    } else {
      const count = request.count ?? 1;
      const prefix = typeof request.customerIdPrefix === 'string' ? request.customerIdPrefix : 'C';
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_TRIGGERED) {
        return reply.code(400).send({ error: `count must be an integer from 0 to ${MAX_TRIGGERED}` });
      }
      userIds = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
    }
    const concurrency = request.concurrency ?? 50;
    if (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1) {
      return reply.code(400).send({ error: 'concurrency must be a positive integer' });
    }
    const rate = request.ratePerSecond;
    if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0))) {
      return reply.code(400).send({ error: 'ratePerSecond must be a positive number' });
    }
    const defaults = defaultTriggeredCampaign();
    const given = isRecord(request.campaign) ? request.campaign : {};
    const action = { ...(defaults.action as Record<string, unknown>), ...(isRecord(given.action) ? given.action : {}) };
    const campaign = { ...defaults, ...given, action };
    const results = await fireTriggered(this.gateway, {
      userIds,
      campaign,
      isVisitor: request.isVisitor === true,
      concurrency,
      ratePerSecond: rate,
    });
    const summary = summarise(results);
    const withResults =
      request.includeResults !== false && (request.includeResults === true || results.length <= 10_000);

    return {
      ...summary,
      total: results.length,
      timeoutMs: this.gateway.timeoutMs,
      ...(withResults ? { results } : {}),
    };
  }
}

function parseEntries(updates: unknown[]): StatusEntry[] | string {
  const entries: StatusEntry[] = new Array<StatusEntry>(updates.length);
  for (let i = 0; i < updates.length; i++) {
    const entry = updates[i];
    const id = getIgnoreCase(entry, 'CustomerID');
    const status = getIgnoreCase(entry, 'Status');
    if ((typeof id !== 'string' || id === '') && typeof id !== 'number') {
      return `PromosUpdated[${i}].CustomerID must be a string`;
    }
    if (typeof status !== 'boolean') {
      return `PromosUpdated[${i}].Status must be a boolean`;
    }
    entries[i] = { customerId: String(id), status };
  }

  return entries;
}

function decodeURIComponentSafe(text: string): string {
  if (!/^https?%3A/i.test(text)) {
    return text;
  }
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
