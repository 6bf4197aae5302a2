import {
  OptimoveApiError,
  OptimoveClient,
  OptimoveClientOptions,
  OptimoveError,
  OptimoveTimeoutError,
  parseOptimoveTime,
  ProcessedCustomersPage,
} from '@app/optimove';
import { Registry } from 'prom-client';
import { Sandbox, startSandbox } from '../../apps/sandbox/src';

const ZONE = 'America/New_York';

interface CampaignInfo {
  campaignId: number;
  clearanceRequiredByLocal: string;
  approvedCount: number;
  updateCalls: number;
}

async function control<T = unknown>(sandbox: Sandbox, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${sandbox.optimoveUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();

  return (text ? JSON.parse(text) : undefined) as T;
}

async function failureOf(promise: Promise<unknown>): Promise<OptimoveError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OptimoveError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function collect(pages: AsyncIterable<ProcessedCustomersPage>): Promise<ProcessedCustomersPage[]> {
  const result: ProcessedCustomersPage[] = [];
  for await (const page of pages) {
    result.push(page);
  }

  return result;
}

describe(`${OptimoveClient.name} against the sandbox`, () => {
  let sandbox: Sandbox;
  const clients: OptimoveClient[] = [];

  function clientFor(options: Partial<OptimoveClientOptions> = {}): OptimoveClient {
    const client = new OptimoveClient({
      apiUrl: `${sandbox.optimoveUrl}/current`,
      apiKey: sandbox.apiKey,
      timeZone: ZONE,
      rateLimit: false,
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      registry: new Registry(),
      ...options,
    });
    clients.push(client);

    return client;
  }

  beforeAll(async () => {
    sandbox = await startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, timezone: ZONE, rateLimit: false });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await control(sandbox, 'DELETE', '/control/faults');
    await control(sandbox, 'PUT', '/control/rate-limit', { off: true });
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  it('should register, list and unregister the event-5 listener and set the gateway', async () => {
    const sut = clientFor();

    await sut.registerEventListener({ eventTypeId: 5, listenerUrl: 'http://127.0.0.1:9/optimove/events?token=t' });
    const registered = await sut.getRegisteredEventListeners();
    await sut.unregisterEventListener({ eventTypeId: 5 });
    const after = await sut.getRegisteredEventListeners();
    await sut.setTriggeredGateway({ gatewayUrl: 'http://127.0.0.1:9/optimove/triggered?token=g', timeoutMs: 2000 });

    expect(registered).toContainEqual(
      expect.objectContaining({ eventTypeId: 5, listenerUrl: 'http://127.0.0.1:9/optimove/events?token=t' }),
    );
    expect(after.some((listener) => listener.eventTypeId === 5)).toBe(false);
  });

  it('should page a target group that is an exact multiple of the page size', async () => {
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', {
      size: 20_000,
      promoCodes: ['P1'],
    });
    const sut = clientFor();

    const pages = await collect(sut.streamProcessedCampaignCustomers(campaign.campaignId));

    expect(pages.map((page) => [page.offset, page.customers.length, page.last])).toEqual([
      [0, 10_000, false],
      [10_000, 10_000, false],
      [20_000, 0, true],
    ]);
    expect(pages[0].customers[0]).toMatchObject({ customerId: 'C1', promoCode: 'P1' });
    expect(pages[1].customers[9_999].customerId).toBe('C20000');
  });

  it('should read an empty target group as one empty last page', async () => {
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', { size: 0 });
    const sut = clientFor();

    const pages = await collect(sut.streamProcessedCampaignCustomers(campaign.campaignId));

    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({ customers: [], last: true });
  });

  it('should drop the duplicate rows the sandbox repeats', async () => {
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', {
      size: 5_000,
      duplicateRate: 0.1,
    });
    const sut = clientFor({ pageSize: 1_000 });

    const pages = await collect(sut.streamProcessedCampaignCustomers(campaign.campaignId));
    const ids = pages.flatMap((page) => page.customers.map((customer) => customer.customerId));

    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(5_000);
    expect(pages.reduce((sum, page) => sum + page.duplicates, 0)).toBeGreaterThan(0);
  });

  it('should report 25,000 approvals in three calls the sandbox accepts', async () => {
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', { size: 25_000 });
    const sut = clientFor();
    const statuses = Array.from({ length: 25_000 }, (_, i) => ({ customerId: `C${i + 1}`, status: true }));

    const report = await sut.updateCustomerPromotionStatus(campaign.campaignId, statuses);
    const state = await control<CampaignInfo>(sandbox, 'GET', `/control/campaigns/${campaign.campaignId}`);

    expect(report).toEqual({ calls: 3, customers: 25_000 });
    expect(state.approvedCount).toBe(25_000);
    expect(state.updateCalls).toBe(3);
  });

  it('should read the deadline the sandbox gives in its zone as the same instant', async () => {
    const deadline = '2025-11-02T05:30:00.000Z';
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', {
      size: 1,
      clearanceRequiredBy: deadline,
    });

    expect(campaign.clearanceRequiredByLocal).toBe('2025-11-02 01:30:00');
    expect(parseOptimoveTime(campaign.clearanceRequiredByLocal, ZONE).toISOString()).toBe(deadline);
  });

  it('should not retry an update after the deadline and keep the string Optimove answered', async () => {
    const campaign = await control<CampaignInfo>(sandbox, 'POST', '/control/campaigns', {
      size: 10,
      clearanceRequiredBy: new Date(Date.now() - 60_000).toISOString(),
    });
    const sut = clientFor();

    const error = await failureOf(
      sut.updateCustomerPromotionStatus(campaign.campaignId, [{ customerId: 'C1', status: true }]),
    );

    expect(error).toBeInstanceOf(OptimoveApiError);
    expect(error).toMatchObject({ status: 400, retryable: false, attempts: 1 });
    expect((error as OptimoveApiError).body).toEqual(expect.stringContaining('has passed'));
  });

  it('should wait out a 429 with Retry-After and succeed', async () => {
    await control(sandbox, 'PUT', '/control/rate-limit', { requests: 2, windowMs: 1_000 });
    const registry = new Registry();
    const sut = clientFor({ retry: { maxAttempts: 4, baseDelayMs: 5 }, registry });

    for (let i = 0; i < 3; i++) {
      await sut.getRegisteredEventListeners();
    }

    const text = await registry.getSingleMetricAsString('optimove_requests_total');
    expect(text).toContain('outcome="success"} 3');
    expect(text).toMatch(/outcome="rate_limited"} [1-9]/);
  });

  it('should keep the client-side limit below the sandbox limit so no 429 is earned', async () => {
    await control(sandbox, 'PUT', '/control/rate-limit', { requests: 3, windowMs: 600 });
    const registry = new Registry();
    const sut = clientFor({ rateLimit: { requests: 3, windowMs: 600 }, registry });

    await Promise.all(Array.from({ length: 7 }, () => sut.getRegisteredEventListeners()));

    const text = await registry.getSingleMetricAsString('optimove_requests_total');
    expect(text).toContain('outcome="success"} 7');
    expect(text).not.toContain('rate_limited');
  });

  it('should retry 5xx faults and give up with a typed error', async () => {
    await control(sandbox, 'PUT', '/control/faults', { errorRate: 1 });
    const sut = clientFor();

    const error = await failureOf(sut.getRegisteredEventListeners());

    expect(error).toBeInstanceOf(OptimoveApiError);
    expect((error as OptimoveApiError).status).toBeGreaterThanOrEqual(500);
    expect(error.attempts).toBe(3);
  });

  it('should time out against a slow Optimove', async () => {
    await control(sandbox, 'PUT', '/control/faults', { latencyMs: 1_500 });
    const sut = clientFor({ timeouts: { headersMs: 300 }, retry: { maxAttempts: 1 } });

    const error = await failureOf(sut.getRegisteredEventListeners());

    expect(error).toBeInstanceOf(OptimoveTimeoutError);
    expect(error).toMatchObject({ phase: 'headers' });
  });

  it('should fail without retry on a wrong API key, naming the status and body', async () => {
    const sut = clientFor({ apiKey: 'wrong-key' });

    const error = await failureOf(sut.getRegisteredEventListeners());

    expect(error).toMatchObject({ status: 401, body: 'Unauthorized', retryable: false, attempts: 1 });
    expect(error.message).not.toContain('wrong-key');
  });
});
