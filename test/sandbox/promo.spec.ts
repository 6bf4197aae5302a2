import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { call, sleep } from './sandbox-http.helper';

describe('promo system stand-in', () => {
  let sandbox: Sandbox;
  const auth = { authorization: 'Bearer promo-secret' };

  beforeAll(async () => {
    sandbox = await startSandbox({
      optimovePort: 0,
      promoPort: 0,
      profilePort: 0,
      rateLimit: false,
      promoToken: 'promo-secret',
    });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => call(`${sandbox.promoUrl}/control/reset`, { method: 'POST' }));

  const activate = (key: string, body: Record<string, unknown>) =>
    call(`${sandbox.promoUrl}/activations`, { headers: { ...auth, 'Idempotency-Key': key }, body });
  const cancel = (key: string) =>
    call(`${sandbox.promoUrl}/activations/${encodeURIComponent(key)}`, { method: 'DELETE', headers: auth });
  const faults = (body: Record<string, unknown>) => call(`${sandbox.promoUrl}/control/faults`, { method: 'PUT', body });
  const payload = { customerId: 'C1', promoCode: 'WB10', campaignId: '1359', flow: 'scheduled' };

  it('should require the bearer token and the Idempotency-Key header', async () => {
    const noToken = await call(`${sandbox.promoUrl}/activations`, {
      headers: { 'Idempotency-Key': 'k' },
      body: payload,
    });
    const noKey = await call(`${sandbox.promoUrl}/activations`, { headers: auth, body: payload });

    expect(noToken.status).toBe(401);
    expect(noKey.status).toBe(400);
  });

  it('should activate once and replay the same result for a finished key', async () => {
    const first = await activate('1359:C1:WB10', payload);
    const again = await activate('1359:C1:WB10', payload);
    const summary = await call(`${sandbox.promoUrl}/control/activations`);

    expect(first.status).toBe(201);
    expect(first.body).toEqual({ activationId: expect.any(String), status: 'activated' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(summary.body).toEqual(expect.objectContaining({ count: 1, active: 1, duplicates: 0 }));
  });

  it('should answer 409 while the same key is in flight and 422 for the key reused with another payload', async () => {
    await faults({ latencyMs: 400 });
    const pending = activate('slow-key', payload);
    await sleep(100);
    const conflict = await activate('slow-key', payload);
    const reused = await activate('slow-key', { ...payload, customerId: 'C2' });
    const cancelInFlight = await cancel('slow-key');
    const finished = await pending;
    const replay = await activate('slow-key', payload);
    const reusedLater = await activate('slow-key', { ...payload, promoCode: 'OTHER' });

    expect(conflict.status).toBe(409);
    expect(reused.status).toBe(422);
    expect(reused.body.reason).toBe('idempotency_key_reused');
    expect(cancelInFlight.status).toBe(409);
    expect(finished.status).toBe(201);
    expect(replay.status).toBe(200);
    expect(replay.body.activationId).toBe(finished.body.activationId);
    expect(reusedLater.status).toBe(422);
  });

  it('should cancel an activation: 200, 404 when nothing was activated, and a cancelled key stays cancelled', async () => {
    await activate('k-cancel', payload);
    const cancelled = await cancel('k-cancel');
    const again = await cancel('k-cancel');
    const never = await cancel('never-used');
    const state = await call(`${sandbox.promoUrl}/control/activations/k-cancel`);
    const reactivate = await activate('k-cancel', payload);

    expect(cancelled.status).toBe(200);
    expect(again.status).toBe(200);
    expect(never.status).toBe(404);
    expect(state.body).toEqual(expect.objectContaining({ state: 'cancelled', customerId: 'C1' }));
    expect(reactivate.status).toBe(422);
  });

  it('should reject listed customers and a stable share of the rest, as a final no', async () => {
    await faults({ rejectCustomerIds: ['C-bad'], rejectRate: 0.5 });
    const listed = await activate('k-bad', { ...payload, customerId: 'C-bad' });
    const replayed = await activate('k-bad', { ...payload, customerId: 'C-bad' });
    const cancelRejected = await cancel('k-bad');
    const outcomes: number[] = [];
    for (let i = 0; i < 40; i++) {
      outcomes.push((await activate(`k-${i}`, { ...payload, customerId: `C${i}` })).status);
    }
    const retried: number[] = [];
    for (let i = 0; i < 40; i++) {
      retried.push((await activate(`k-retry-${i}`, { ...payload, customerId: `C${i}` })).status);
    }

    expect(listed.status).toBe(422);
    expect(listed.body.reason).toBe('customer_not_eligible');
    expect(replayed.status).toBe(422);
    expect(cancelRejected.status).toBe(404);
    expect(outcomes.filter((s) => s === 422).length).toBeGreaterThan(5);
    expect(outcomes.filter((s) => s === 201).length).toBeGreaterThan(5);
    expect(retried).toEqual(outcomes);
  });

  it('should count a customer activated under two keys as a duplicate', async () => {
    await activate('a', payload);
    await activate('b', payload);
    const summary = await call(`${sandbox.promoUrl}/control/activations?customerId=C1`);

    expect(summary.body.duplicates).toBe(1);
    expect(summary.body.items).toHaveLength(2);
  });

  it('should answer alike on the lean lane and through Fastify', async () => {
    // `/activations` is served ahead of Fastify; the same route with a trailing slash goes through Fastify's router.
    const lean = await activate('lanes:C1:WB10', payload);
    const routed = await call(`${sandbox.promoUrl}/activations/`, {
      headers: { ...auth, 'Idempotency-Key': 'lanes:C1:WB10' },
      body: payload,
    });
    const badJson = async (path: string) => {
      const response = await fetch(`${sandbox.promoUrl}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'Idempotency-Key': 'lanes:bad' },
        body: '{"customerId": ',
      });

      return { status: response.status, body: await response.json() };
    };

    expect(lean.status).toBe(201);
    expect(lean.headers.get('content-type')).toContain('application/json');
    expect(routed.status).toBe(200);
    expect(routed.body).toEqual(lean.body);
    await expect(badJson('/activations')).resolves.toEqual({ status: 400, body: { error: 'Body is not valid JSON' } });
    await expect(badJson('/activations/')).resolves.toEqual({ status: 400, body: { error: 'Body is not valid JSON' } });
    const noToken = await call(`${sandbox.promoUrl}/activations`, { headers: { 'Idempotency-Key': 'k' }, body: {} });
    expect(noToken).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
  });

  it('should leave the lean lane while a fault that a hook applies is on', async () => {
    await faults({ outage: 'error' });
    const down = await activate('lanes:C2:WB10', payload);
    await faults({ outage: false });
    const up = await activate('lanes:C2:WB10', payload);

    expect(down.status).toBe(503);
    expect(up.status).toBe(201);
  });
});
