import { formatZoned, parseZoned, Sandbox, startSandbox } from '../../apps/sandbox/src';
import { call, sleep, startTestServer } from './sandbox-http.helper';

const ZONE = 'America/New_York';

interface CreatedCampaign {
  campaignId: number | string;
  clearanceRequiredBy: string;
  clearanceRequiredByLocal: string;
}

interface EventFive {
  EventTypeID: number;
  TimeStamp: string;
  CampaignID: number | string;
  ClearanceRequiredBy: string;
}

describe('Optimove stand-in', () => {
  let sandbox: Sandbox;
  let key: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false, timezone: ZONE });
    key = { 'X-API-KEY': sandbox.apiKey };
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => call(`${sandbox.optimoveUrl}/control/reset`, { method: 'POST' }));

  const createCampaign = async (body: Record<string, unknown>): Promise<CreatedCampaign> => {
    const created = await call(`${sandbox.optimoveUrl}/control/campaigns`, { body });
    expect(created.status).toBe(200);

    return created.body as CreatedCampaign;
  };
  const page = (campaignId: string | number, top: number, skip: number, prefix = '') =>
    call(
      `${sandbox.optimoveUrl}${prefix}/Customers/GetProcessedCampaignCustomers?CampaignID=${campaignId}&$top=${top}&$skip=${skip}`,
      {
        headers: key,
      },
    );
  const update = (campaignId: unknown, entries: { CustomerID: string; Status: boolean }[]) =>
    call(`${sandbox.optimoveUrl}/Integrations/UpdateCustomerPromotionStatus`, {
      headers: key,
      body: { TimeStamp: formatZoned(Date.now(), ZONE), CampaignID: campaignId, PromosUpdated: entries },
    });

  it('should answer 401 with a bare JSON string without the right X-API-KEY', async () => {
    const missing = await call(`${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`);
    const wrong = await call(`${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`, {
      headers: { 'X-API-KEY': 'nope' },
    });
    const right = await call(`${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`, { headers: key });

    expect(missing.status).toBe(401);
    expect(missing.text).toBe('"Unauthorized"');
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
    expect(right.body).toEqual([]);
  });

  it('should serve the API with or without /current or /v3.0, in any letter case, and upsert listeners', async () => {
    const listener = 'http://127.0.0.1:9/optimove/events?token=abc';
    for (const [i, path] of [
      '/General/RegisterEventListener',
      '/current/general/registereventlistener',
      '/V3.0/GENERAL/RegisterEventListener',
    ].entries()) {
      const registered = await call(`${sandbox.optimoveUrl}${path}`, {
        headers: key,
        body: { EventTypeID: 5, ListenerURL: `${listener}&n=${i}` },
      });
      expect(registered.status).toBe(200);
      expect(registered.text).toBe('');
    }
    const listed = await call(`${sandbox.optimoveUrl}/current/General/GetRegisteredEventListeners`, { headers: key });
    const unknown = await call(`${sandbox.optimoveUrl}/v2.0/General/GetRegisteredEventListeners`, { headers: key });

    expect(listed.body).toEqual([{ EventTypeID: 5, ListenerURL: `${listener}&n=2`, ChannelID: null }]);
    expect(unknown.status).toBe(404);
  });

  it('should page at exact multiples of the page size and end with an empty page', async () => {
    const campaign = await createCampaign({ campaignId: 777, size: 20_000, promoCodes: ['WB10', 'WB20'] });
    const first = await page(777, 10_000, 0);
    const second = await page(777, 10_000, 10_000, '/current');
    const third = await page(777, 10_000, 20_000);

    expect(campaign.campaignId).toBe(777);
    expect(first.body).toHaveLength(10_000);
    expect(first.body[0]).toEqual({ CustomerID: 'C1', ActionID: 1, PromoCode: 'WB10' });
    expect(first.body[1]).toEqual({ CustomerID: 'C2', ActionID: 2, PromoCode: 'WB20' });
    expect(second.body).toHaveLength(10_000);
    expect(second.body[9_999].CustomerID).toBe('C20000');
    expect(third.status).toBe(200);
    expect(third.body).toEqual([]);
    const ids = new Set([...first.body, ...second.body].map((row: { CustomerID: string }) => row.CustomerID));
    expect(ids.size).toBe(20_000);
  });

  it('should serve an empty target group as an empty array and refuse pages over 10,000', async () => {
    await createCampaign({ campaignId: 'empty', size: 0 });
    const empty = await page('empty', 10_000, 0);
    const tooBig = await page('empty', 10_001, 0);
    const unknown = await page(404404, 10, 0);

    expect(empty.status).toBe(200);
    expect(empty.body).toEqual([]);
    expect(tooBig.status).toBe(400);
    expect(typeof tooBig.body).toBe('string');
    expect(unknown.status).toBe(404);
  });

  it('should repeat customers at the requested duplicate rate', async () => {
    await createCampaign({ campaignId: 9, size: 100, duplicateRate: 0.1 });
    const rows = (await page(9, 10_000, 0)).body as { CustomerID: string }[];

    expect(rows).toHaveLength(110);
    expect(new Set(rows.map((row) => row.CustomerID)).size).toBe(100);
  });

  it('should take at most 10,000 statuses a call, last write wins, and report the outcome after the deadline', async () => {
    const deadline = new Date(Date.now() + 1_500).toISOString();
    await createCampaign({ campaignId: 55, size: 20_000, clearanceRequiredBy: deadline });
    const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ CustomerID: `C${i + 1}`, Status: true }));
    const refused = await update(55, tooMany);
    const accepted = await update(55, tooMany.slice(0, 10_000));
    const flipped = await update(55, [
      { CustomerID: 'C2', Status: false },
      { CustomerID: 'C3', Status: false },
      { CustomerID: 'X-foreign', Status: true },
    ]);
    const before = await call(`${sandbox.optimoveUrl}/control/campaigns/55/outcome`);

    expect(refused.status).toBe(400);
    expect(typeof refused.body).toBe('string');
    expect(accepted.status).toBe(200);
    expect(flipped.status).toBe(200);
    expect(before.body).toEqual(expect.objectContaining({ final: false, approvedSoFar: 9_998 }));

    await sleep(Date.parse(deadline) - Date.now() + 50);
    const late = await update(55, [{ CustomerID: 'C10001', Status: true }]);
    const outcome = await call(`${sandbox.optimoveUrl}/control/campaigns/55/outcome?customerIds=true`);
    const state = await call(`${sandbox.optimoveUrl}/control/campaigns/55`);

    expect(late.status).toBe(400);
    expect(late.body).toMatch(/ClearanceRequiredBy/);
    expect(outcome.body.final).toBe(true);
    expect(outcome.body.sentTo).toBe(9_998);
    expect(outcome.body.unknownCustomersApproved).toBe(1);
    expect(outcome.body.customerIds).toHaveLength(9_998);
    expect(outcome.body.customerIds).not.toContain('C2');
    expect(outcome.body.customerIds).not.toContain('C10001');
    expect(state.body).toEqual(expect.objectContaining({ updateCalls: 2, rejectedUpdates: 2, withdrawnCount: 2 }));
  });

  it('should refuse a malformed status update', async () => {
    await createCampaign({ campaignId: 56, size: 10 });
    const noTimeStamp = await call(`${sandbox.optimoveUrl}/Integrations/UpdateCustomerPromotionStatus`, {
      headers: key,
      body: { CampaignID: 56, PromosUpdated: [] },
    });
    const badStatus = await update(56, [{ CustomerID: 'C1', Status: 'yes' as unknown as boolean }]);
    const unknownCampaign = await update(57, []);

    expect(noTimeStamp.status).toBe(400);
    expect(badStatus.status).toBe(400);
    expect(unknownCampaign.status).toBe(404);
  });

  it('should answer 429 with Retry-After over the rate limit, then succeed after the window', async () => {
    const set = await call(`${sandbox.optimoveUrl}/control/rate-limit`, {
      method: 'PUT',
      body: { requests: 2, windowMs: 1_000 },
    });
    const url = `${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`;
    const answers = [
      await call(url, { headers: key }),
      await call(url, { headers: key }),
      await call(url, { headers: key }),
    ];

    expect(set.status).toBe(200);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(answers[2].headers.get('retry-after')).toBe('1');
    expect(answers[2].body).toEqual(expect.objectContaining({ status: 429, error: 'Too Many Requests' }));

    await sleep(1_050);
    const after = await call(url, { headers: key });
    expect(after.status).toBe(200);
  });

  it('should send the event-5 notification to the registered listener with times in the zone', async () => {
    const received: { method?: string; url?: string; body: EventFive }[] = [];
    const listener = await startTestServer((req, body, res) => {
      received.push({ method: req.method, url: req.url, body: JSON.parse(body) as EventFive });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"clearanceId":"cl-1"}');
    });
    try {
      await call(`${sandbox.optimoveUrl}/General/RegisterEventListener`, {
        headers: key,
        body: { EventTypeID: 5, ListenerURL: `${listener.url}/optimove/events?token=t0k` },
      });
      const campaign = await createCampaign({ campaignId: 1359, size: 10, leadTimeMinutes: 30 });
      const before = Date.now();
      const notified = await call(`${sandbox.optimoveUrl}/control/campaigns/1359/notify`, { method: 'POST' });

      expect(notified.body).toEqual(expect.objectContaining({ status: 200, body: { clearanceId: 'cl-1' } }));
      expect(received).toHaveLength(1);
      expect(received[0].method).toBe('POST');
      expect(received[0].url).toBe('/optimove/events?token=t0k');
      const sent = received[0].body;
      expect(Object.keys(sent).sort()).toEqual(['CampaignID', 'ClearanceRequiredBy', 'EventTypeID', 'TimeStamp']);
      expect(sent.EventTypeID).toBe(5);
      expect(sent.CampaignID).toBe(1359);
      expect(sent.ClearanceRequiredBy).toBe(campaign.clearanceRequiredByLocal);
      expect(parseZoned(sent.ClearanceRequiredBy, ZONE)).toBe(Date.parse(campaign.clearanceRequiredBy));
      const lead = Date.parse(campaign.clearanceRequiredBy) - before;
      expect(lead).toBeGreaterThan(29 * 60_000);
      expect(lead).toBeLessThanOrEqual(30 * 60_000);
      expect(Math.abs(parseZoned(sent.TimeStamp, ZONE)! - before)).toBeLessThan(5_000);
      expect(sent.TimeStamp).toBe(formatZoned(parseZoned(sent.TimeStamp, ZONE)!, ZONE));
    } finally {
      await listener.close();
    }
  });

  it('should refuse to notify without a listener', async () => {
    await createCampaign({ campaignId: 2, size: 1 });
    const notified = await call(`${sandbox.optimoveUrl}/control/campaigns/2/notify`, { method: 'POST' });

    expect(notified.status).toBe(409);
  });

  it('should validate the gateway and its timeout', async () => {
    const url = `${sandbox.optimoveUrl}/triggered_conditional_execution_gateway`;
    const tooLong = await call(url, {
      method: 'PUT',
      headers: key,
      body: { GatewayURL: 'http://x/gw', Timeout: 2501 },
    });
    const noUrl = await call(url, { method: 'PUT', headers: key, body: { Timeout: 100 } });
    const ok = await call(url, { method: 'PUT', headers: key, body: { Url: 'http://x/gw?token=a' } });
    const state = await call(`${sandbox.optimoveUrl}/control/state`);

    expect(tooLong.status).toBe(400);
    expect(noUrl.status).toBe(400);
    expect(ok.status).toBe(200);
    expect(state.body.gateway).toEqual({ url: 'http://x/gw?token=a', timeoutMs: 2000 });
  });
});
