import { Sandbox, startSandbox, TriggerResult } from '../../apps/sandbox/src';
import { call, startTestServer } from './sandbox-http.helper';

interface GatewayRequest {
  user: { user_id: string; is_visitor: boolean };
  campaign: {
    id: number;
    series_id: number;
    tags: string[];
    action: { promo_codes: string[] | null; channels: unknown[] };
  };
}

describe('Optimove stand-in: triggered firing', () => {
  let sandbox: Sandbox;
  let gateway: Awaited<ReturnType<typeof startTestServer>>;
  const seen: { url?: string; request: GatewayRequest }[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    // The brand's gateway, played by the test: each customer ID asks for one kind of answer.
    gateway = await startTestServer((req, body, res) => {
      const request = JSON.parse(body) as GatewayRequest;
      seen.push({ url: req.url, request });
      const userId: string = request.user.user_id;
      const json = (status: number, payload: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(payload);
      };
      switch (userId) {
        case 'allowed':
          return json(200, JSON.stringify({ user_id: userId, allowed: true }));
        case 'denied':
          return json(200, JSON.stringify({ user_id: userId, allowed: false }));
        case 'late':
          setTimeout(() => json(200, JSON.stringify({ user_id: userId, allowed: true })), 600);

          return;
        case 'malformed':
          return json(200, '{"user_id": "malformed", "allowed": tru');
        case 'stringly':
          return json(200, JSON.stringify({ user_id: userId, allowed: 'true' }));
        case 'mismatch':
          return json(200, JSON.stringify({ user_id: 'someone-else', allowed: true }));
        default:
          return json(500, JSON.stringify({ user_id: userId, allowed: true }));
      }
    });
    await call(`${sandbox.optimoveUrl}/triggered_conditional_execution_gateway`, {
      method: 'PUT',
      headers: { 'X-API-KEY': sandbox.apiKey },
      body: { GatewayURL: `${gateway.url}/optimove/triggered?token=gw`, Timeout: 300 },
    });
  });
  afterAll(async () => {
    await gateway.close();
    await sandbox.stop();
  });

  it('should count only timely, well-formed approvals for the same user as sent', async () => {
    const customerIds = ['allowed', 'denied', 'late', 'malformed', 'stringly', 'mismatch', 'broken'];
    const fired = await call(`${sandbox.optimoveUrl}/control/triggered`, {
      body: {
        customerIds,
        campaign: { id: 42, series_id: 7, tags: ['vip'], action: { id: 3, promo_codes: ['WB10'] } },
        concurrency: 7,
      },
    });
    const byUser = new Map<string, TriggerResult>((fired.body.results as TriggerResult[]).map((r) => [r.user_id, r]));

    expect(fired.status).toBe(200);
    expect(fired.body.sent).toBe(1);
    expect(fired.body.notSent).toBe(6);
    expect(byUser.get('allowed')).toEqual(expect.objectContaining({ sent: true, allowed: true, status: 200 }));
    expect(byUser.get('denied')).toEqual(expect.objectContaining({ sent: false, allowed: false }));
    expect(byUser.get('denied')!.failure).toBeUndefined();
    expect(byUser.get('late')).toEqual(expect.objectContaining({ sent: false, failure: 'timeout' }));
    expect(byUser.get('malformed')).toEqual(expect.objectContaining({ sent: false, failure: 'malformed' }));
    expect(byUser.get('stringly')).toEqual(expect.objectContaining({ sent: false, failure: 'malformed' }));
    expect(byUser.get('mismatch')).toEqual(expect.objectContaining({ sent: false, failure: 'user_mismatch' }));
    expect(byUser.get('broken')).toEqual(expect.objectContaining({ sent: false, failure: 'http_status', status: 500 }));
  });

  it('should post the documented gateway JSON to the gateway URL with its token', async () => {
    seen.length = 0;
    await call(`${sandbox.optimoveUrl}/control/triggered`, {
      body: { customerIds: ['allowed'], isVisitor: true, campaign: { id: 42, action: { promo_codes: ['WB10'] } } },
    });

    expect(seen).toHaveLength(1);
    expect(seen[0].url).toBe('/optimove/triggered?token=gw');
    const { user, campaign } = seen[0].request;
    expect(user).toEqual({ user_id: 'allowed', is_visitor: true });
    expect(campaign.id).toBe(42);
    expect(campaign).toEqual(expect.objectContaining({ series_id: expect.anything(), tags: expect.any(Array) }));
    expect(campaign.action.promo_codes).toEqual(['WB10']);
    expect(campaign.action.channels.length).toBeGreaterThan(0);
  });

  it('should fire a burst of generated customers', async () => {
    const fired = await call(`${sandbox.optimoveUrl}/control/triggered`, {
      body: { count: 50, customerIdPrefix: 'nobody-', concurrency: 10 },
    });

    expect(fired.body.total).toBe(50);
    expect(fired.body.failures).toEqual({ http_status: 50 });
    expect(new Set((fired.body.results as TriggerResult[]).map((r) => r.user_id)).size).toBe(50);
  });
});
