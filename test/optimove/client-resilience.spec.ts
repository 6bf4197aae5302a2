import {
  OptimoveAbortedError,
  OptimoveApiError,
  OptimoveClient,
  OptimoveClientOptions,
  OptimoveError,
  OptimoveNetworkError,
  OptimoveResponseError,
  OptimoveTimeoutError,
} from '@app/optimove';
import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { reply, startTestServer, TestHandler, TestServer } from './optimove-test.server';

const API_KEY = 'secret-key-never-shown';

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

async function counterValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v));

  return match?.value ?? 0;
}

describe(`${OptimoveClient.name} resilience`, () => {
  let server: TestServer;
  let handler: TestHandler;
  let registry: Registry;
  const clients: OptimoveClient[] = [];

  function clientFor(options: Partial<OptimoveClientOptions> = {}): OptimoveClient {
    const client = new OptimoveClient({
      apiUrl: server.url,
      apiKey: API_KEY,
      rateLimit: false,
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      registry,
      ...options,
    });
    clients.push(client);

    return client;
  }

  beforeEach(async () => {
    handler = (_request, res) => reply(res, 200);
    server = await startTestServer((request, res) => handler(request, res));
    registry = new Registry();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('should wait for Retry-After seconds after a 429 and then succeed', async () => {
    handler = (_request, res) =>
      server.requests.length === 1
        ? reply(res, 429, { status: 429, error: 'Too Many Requests', message: 'slow down' }, { 'retry-after': '1' })
        : reply(res, 200, []);
    const sut = clientFor();

    const rows = await sut.fetchProcessedCustomerRows(1, { offset: 0, limit: 10 });

    expect(rows).toEqual([]);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].at - server.requests[0].at).toBeGreaterThanOrEqual(990);
    expect(await counterValue(registry, 'optimove_requests_total', { outcome: 'rate_limited' })).toBe(1);
    expect(
      await counterValue(registry, 'optimove_requests_total', {
        call: 'getProcessedCampaignCustomers',
        outcome: 'success',
      }),
    ).toBe(1);
  });

  it('should honour Retry-After given as an HTTP-date', async () => {
    handler = (_request, res) =>
      server.requests.length === 1
        ? reply(res, 429, undefined, { 'retry-after': new Date(Date.now() + 2000).toUTCString() })
        : reply(res, 200);
    const sut = clientFor();

    await sut.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://l.example' });

    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].at - server.requests[0].at).toBeGreaterThanOrEqual(900);
  });

  it('should give up after a Retry-After longer than the call deadline allows', async () => {
    handler = (_request, res) => reply(res, 429, 'Too Many Requests', { 'retry-after': '30' });
    const sut = clientFor();

    const error = await failureOf(sut.getRegisteredEventListeners({ timeoutMs: 2000 }));

    expect(error).toBeInstanceOf(OptimoveApiError);
    expect((error as OptimoveApiError).status).toBe(429);
    expect((error as OptimoveApiError).retryAfterMs).toBe(30_000);
    expect(server.requests).toHaveLength(1);
  });

  it('should retry a 5xx and then give up with a typed error naming the call, status and body', async () => {
    handler = (_request, res) => reply(res, 503, 'Service Unavailable');
    const sut = clientFor();

    const error = await failureOf(
      sut.updateCustomerPromotionStatus(9, [{ customerId: 'C1', status: true }], { timeoutMs: 5000 }),
    );

    expect(error).toBeInstanceOf(OptimoveApiError);
    expect(error).toMatchObject({
      call: 'updateCustomerPromotionStatus',
      status: 503,
      body: 'Service Unavailable',
      retryable: true,
      attempts: 3,
    });
    expect(error.message).toBe('Optimove updateCustomerPromotionStatus failed with HTTP 503: Service Unavailable');
    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((request) => request.body)).size).toBe(1);
    expect(await counterValue(registry, 'optimove_requests_total', { outcome: 'server_error' })).toBe(3);
    expect(await counterValue(registry, 'optimove_retries_total', { call: 'updateCustomerPromotionStatus' })).toBe(2);
  });

  it('should retry a 5xx of the event-listener registration and succeed', async () => {
    handler = (_request, res) => (server.requests.length < 3 ? reply(res, 502) : reply(res, 200));
    const sut = clientFor();

    await sut.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://l.example' });

    expect(server.requests).toHaveLength(3);
  });

  it('should not retry a 4xx and keep the bare JSON string Optimove answered', async () => {
    handler = (_request, res) => reply(res, 400, 'ClearanceRequiredBy has passed');
    const sut = clientFor();

    const error = await failureOf(sut.updateCustomerPromotionStatus(9, [{ customerId: 'C1', status: true }]));

    expect(server.requests).toHaveLength(1);
    expect(error).toMatchObject({ status: 400, body: 'ClearanceRequiredBy has passed', retryable: false, attempts: 1 });
  });

  it('should keep object and empty error bodies, and never show the API key', async () => {
    handler = (request, res) =>
      request.method === 'GET' ? reply(res, 401, { message: `key ${API_KEY} is revoked` }) : reply(res, 404);
    const sut = clientFor();

    const unauthorized = (await failureOf(sut.getRegisteredEventListeners())) as OptimoveApiError;
    const notFound = (await failureOf(sut.unregisterEventListener({ eventTypeId: 5 }))) as OptimoveApiError;

    expect(unauthorized.body).toEqual({ message: 'key [REDACTED] is revoked' });
    expect(unauthorized.message).not.toContain(API_KEY);
    expect(notFound.body).toBeUndefined();
    expect(notFound.message).toBe('Optimove unregisterEventListener failed with HTTP 404: an empty body');
    expect(JSON.stringify({ ...unauthorized, stack: unauthorized.stack })).not.toContain(API_KEY);
  });

  it('should treat a 2xx carrying a bare JSON string as an error message', async () => {
    handler = (_request, res) => reply(res, 200, 'Invalid campaign');
    const sut = clientFor();

    const error = await failureOf(sut.updateCustomerPromotionStatus(9, [{ customerId: 'C1', status: true }]));

    expect(error).toMatchObject({ status: 200, body: 'Invalid campaign', retryable: false });
  });

  it('should retry a page that is not JSON and report it as malformed', async () => {
    handler = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[{"CustomerID": "C1"');
    };
    const sut = clientFor();

    const error = await failureOf(sut.fetchProcessedCustomerRows(1, { offset: 0, limit: 10 }));

    expect(error).toBeInstanceOf(OptimoveResponseError);
    expect(server.requests).toHaveLength(3);
    expect(await counterValue(registry, 'optimove_requests_total', { outcome: 'malformed_response' })).toBe(3);
  });

  it('should time out waiting for headers, retry, and fail with a typed timeout', async () => {
    handler = () => undefined;
    const sut = clientFor({ timeouts: { headersMs: 150 }, retry: { maxAttempts: 2, baseDelayMs: 5 } });

    const error = await failureOf(sut.getRegisteredEventListeners());

    expect(error).toBeInstanceOf(OptimoveTimeoutError);
    expect(error).toMatchObject({ phase: 'headers', timeoutMs: 150, attempts: 2, retryable: true });
    expect(server.requests).toHaveLength(2);
  });

  it('should time out when the body stalls', async () => {
    handler = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
    };
    const sut = clientFor({ timeouts: { bodyMs: 150 }, retry: { maxAttempts: 1 } });

    const error = await failureOf(sut.fetchProcessedCustomerRows(1, { offset: 0, limit: 10 }));

    expect(error).toMatchObject({ phase: 'body', retryable: true });
  });

  it('should stop at the call deadline, retries included', async () => {
    handler = () => undefined;
    const sut = clientFor({ retry: { maxAttempts: 10, baseDelayMs: 5 } });

    const error = await failureOf(sut.getRegisteredEventListeners({ timeoutMs: 300 }));

    expect(error).toBeInstanceOf(OptimoveTimeoutError);
    expect(error).toMatchObject({ phase: 'deadline', timeoutMs: 300, retryable: false });
    expect(await counterValue(registry, 'optimove_requests_total', { outcome: 'aborted' })).toBe(1);
  });

  it('should stop when the caller aborts', async () => {
    handler = () => undefined;
    const sut = clientFor();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);

    const error = await failureOf(sut.getRegisteredEventListeners({ signal: controller.signal }));

    expect(error).toBeInstanceOf(OptimoveAbortedError);
  });

  it('should retry a refused connection and fail with a typed network error', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const sut = clientFor({ apiUrl: `http://127.0.0.1:${port}` });

    const error = await failureOf(sut.getRegisteredEventListeners());

    expect(error).toBeInstanceOf(OptimoveNetworkError);
    expect(error).toMatchObject({ networkCode: 'ECONNREFUSED', attempts: 3, retryable: true });
  });

  it('should space calls by the client-side rate limit', async () => {
    handler = (_request, res) => reply(res, 200, []);
    const sut = clientFor({ rateLimit: { requests: 3, windowMs: 400 } });

    await Promise.all(Array.from({ length: 7 }, () => sut.getRegisteredEventListeners()));

    const arrivals = server.requests.map((request) => request.at - server.requests[0].at);
    expect(arrivals.slice(0, 3).every((at) => at < 200)).toBe(true);
    expect(arrivals.slice(3, 6).every((at) => at >= 395)).toBe(true);
    expect(arrivals[6]).toBeGreaterThanOrEqual(795);
  });

  it('should share one registry between two clients', async () => {
    const first = clientFor();
    const second = clientFor();

    await first.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://l.example' });
    await second.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://l.example' });

    expect(
      await counterValue(registry, 'optimove_requests_total', { call: 'registerEventListener', outcome: 'success' }),
    ).toBe(2);
    const metrics = await registry.metrics();
    expect(metrics).toContain('optimove_request_duration_seconds_bucket');
  });
});
