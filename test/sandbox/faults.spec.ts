import { Sandbox, startSandbox } from '../../apps/sandbox/src';
import { call } from './sandbox-http.helper';

describe('sandbox faults', () => {
  let sandbox: Sandbox;
  let key: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    key = { 'X-API-KEY': sandbox.apiKey };
  });
  afterAll(() => sandbox.stop());
  afterEach(async () => {
    for (const url of [sandbox.optimoveUrl, sandbox.promoUrl, sandbox.profileUrl]) {
      await call(`${url}/control/faults`, { method: 'DELETE' });
    }
  });

  const listeners = (timeoutMs = 5_000) =>
    call(`${sandbox.optimoveUrl}/General/GetRegisteredEventListeners`, { headers: key, timeoutMs });
  const profile = (timeoutMs = 5_000) => call(`${sandbox.profileUrl}/profiles/C1`, { timeoutMs });

  it('should add latency at run time: a client that waits less gives up, then it answers again when cleared', async () => {
    const set = await call(`${sandbox.profileUrl}/control/faults`, { method: 'PUT', body: { latencyMs: 400 } });
    await expect(profile(100)).rejects.toThrow();
    const patient = await profile(5_000);
    await call(`${sandbox.profileUrl}/control/faults`, { method: 'DELETE' });
    const after = await profile(5_000);

    expect(set.body.latencyMs).toBe(400);
    expect([200, 404]).toContain(patient.status);
    expect([200, 404]).toContain(after.status);
  });

  it('should inject errors at the given rate and status, in each stand-in dialect', async () => {
    await call(`${sandbox.optimoveUrl}/control/faults`, { method: 'PUT', body: { errorRate: 1, errorStatus: 502 } });
    await call(`${sandbox.promoUrl}/control/faults`, { method: 'PUT', body: { errorRate: 1 } });
    const optimove = await listeners();
    const promo = await call(`${sandbox.promoUrl}/activations`, {
      headers: { 'Idempotency-Key': 'k1' },
      body: { customerId: 'C1', promoCode: 'X', campaignId: '1', flow: 'triggered' },
    });
    const promoState = await call(`${sandbox.promoUrl}/control/activations`);
    const control = await call(`${sandbox.optimoveUrl}/control/state`);

    expect(optimove.status).toBe(502);
    expect(typeof optimove.body).toBe('string');
    expect(promo.status).toBe(500);
    expect(promoState.body.count).toBe(0);
    expect(control.status).toBe(200);
  });

  it('should refuse bad fault settings', async () => {
    const bad = await call(`${sandbox.profileUrl}/control/faults`, { method: 'PUT', body: { outage: 'sometimes' } });
    const badRate = await call(`${sandbox.promoUrl}/control/faults`, { method: 'PUT', body: { rejectRate: 2 } });

    expect(bad.status).toBe(400);
    expect(badRate.status).toBe(400);
  });

  it("should answer 503 to everything but the control API during an 'error' outage", async () => {
    await call(`${sandbox.profileUrl}/control/faults`, { method: 'PUT', body: { outage: 'error' } });
    const down = await call(`${sandbox.profileUrl}/profiles/batch`, { body: { customerIds: ['C1'] } });
    const control = await call(`${sandbox.profileUrl}/control/faults`);

    expect(down.status).toBe(503);
    expect(control.body.outage).toBe('error');
  });

  it('should swallow requests in a black hole without answering, and serve again when cleared', async () => {
    await call(`${sandbox.optimoveUrl}/control/faults`, { method: 'PUT', body: { outage: 'blackhole' } });
    await expect(listeners(300)).rejects.toThrow(/aborted|timeout/i);
    const control = await call(`${sandbox.optimoveUrl}/control/state`);
    await call(`${sandbox.optimoveUrl}/control/faults`, { method: 'DELETE' });
    const after = await listeners();

    expect(control.body.faults.outage).toBe('blackhole');
    expect(after.status).toBe(200);
  });

  it('should stop promptly even while a black hole holds connections', async () => {
    const other = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
    await call(`${other.promoUrl}/control/faults`, { method: 'PUT', body: { outage: 'blackhole' } });
    const held = fetch(`${other.promoUrl}/activations`, { method: 'DELETE' }).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await other.stop();

    expect(await held).toBe('dropped');
  });
});
