import { Controller, Get } from '@nestjs/common';
import { createHook } from 'node:async_hooks';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { shutDownGracefully } from '../../apps/service/src/bootstrap';
import { ShutdownState } from '../../apps/service/src/health/shutdown-state';
import { startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const SLOW_REQUEST_MS = 1_500;
const OUR_SOURCES = [join(__dirname, '../../libs/'), join(__dirname, '../../apps/')];

/** A timer created while watching, and where in our own code (not a dependency's) it was created, if there. */
interface WatchedTimer {
  timer: NodeJS.Timeout;
  ourCaller: string | undefined;
}

/** Runs `work` and returns the timers created meanwhile that still hold the process open afterwards. */
async function timersLeftBy(work: () => Promise<void>): Promise<WatchedTimer[]> {
  const alive = new Map<number, WatchedTimer>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type !== 'Timeout') {
        return;
      }
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 30;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const ourCaller = stack
        .split('\n')
        .find((line) => OUR_SOURCES.some((path) => line.includes(path)))
        ?.trim();
      alive.set(id, { timer: resource as NodeJS.Timeout, ourCaller });
    },
    destroy(id) {
      alive.delete(id);
    },
  });
  hook.enable();
  try {
    await work();
    // Destroy hooks are called after the current turn.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    hook.disable();
  }

  return [...alive.values()].filter(({ timer }) => timer.hasRef());
}

/** A test-only endpoint that stays in flight long enough to span a shutdown. */
@Controller('test-only')
class SlowController {
  @Get('slow')
  async slow(): Promise<{ finished: true }> {
    await sleep(SLOW_REQUEST_MS);

    return { finished: true };
  }
}

describe('health, documentation and graceful shutdown', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('health');
  });

  afterAll(async () => {
    await database.drop();
  });

  it('should answer liveness and readiness, the OpenAPI page, and metrics', async () => {
    const service = await startService(database.url);
    try {
      const live = await fetch(`${service.url}/health/live`);
      const ready = await fetch(`${service.url}/health/ready`);
      const docs = await fetch(`${service.url}/docs`);
      const docsJson = await fetch(`${service.url}/docs-json`);
      const metrics = await fetch(`${service.url}/metrics`);

      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain('swagger');
      const openApi = (await docsJson.json()) as { paths: Record<string, unknown> };
      expect(Object.keys(openApi.paths)).toEqual(
        expect.arrayContaining(['/health/live', '/health/ready', '/metrics', '/optimove/triggered']),
      );
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('process_cpu_user_seconds_total');
    } finally {
      await service.close();
    }
  });

  it('should echo a well-formed request id and replace a malformed one', async () => {
    const service = await startService(database.url);
    try {
      const kept = await fetch(`${service.url}/health/live`, { headers: { 'x-request-id': 'abc-123' } });
      const replaced = await fetch(`${service.url}/health/live`, { headers: { 'x-request-id': 'bad id <script>' } });

      expect(kept.headers.get('x-request-id')).toBe('abc-123');
      expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await service.close();
    }
  });

  it('should answer unknown routes with the common error shape', async () => {
    const service = await startService(database.url);
    try {
      const response = await fetch(`${service.url}/nowhere`);

      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({
        statusCode: 404,
        error: 'Not Found',
        requestId: expect.any(String),
      });
    } finally {
      await service.close();
    }
  });

  it("should close the connection of every answer once draining, the triggered gateway's included", async () => {
    const service = await startService(database.url, { GATEWAY_TOKEN: 'gateway-token-0123456789abcdef' });
    try {
      const gatewayBefore = await fetch(`${service.url}/optimove/triggered`, { method: 'POST', body: '{}' });
      service.app.get(ShutdownState).begin();
      const gatewayDuring = await fetch(`${service.url}/optimove/triggered`, { method: 'POST', body: '{}' });
      const liveDuring = await fetch(`${service.url}/health/live`);

      expect(gatewayBefore.status).toBe(401);
      expect(gatewayBefore.headers.get('connection')).not.toBe('close');
      expect(gatewayDuring.status).toBe(401);
      expect(gatewayDuring.headers.get('connection')).toBe('close');
      expect(liveDuring.headers.get('connection')).toBe('close');
    } finally {
      await service.close();
    }
  });

  it('should leave no timer of its own that holds the process open once closed', async () => {
    const left = await timersLeftBy(async () => {
      const service = await startService(database.url);
      expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
      await service.close();
    });

    expect(left.map(({ ourCaller }) => ourCaller).filter((caller) => caller !== undefined)).toEqual([]);
  });

  it('should turn readiness to 503 first, then let in-flight requests finish before closing', async () => {
    const service = await startService(database.url, { SHUTDOWN_DRAIN_MS: '600' }, [SlowController]);
    const inFlight = fetch(`${service.url}/test-only/slow`);
    await sleep(100);

    const shutdown = shutDownGracefully(service.app, service.config.shutdown.drainMs);
    const readyDuringDrain = await fetch(`${service.url}/health/ready`);
    const liveDuringDrain = await fetch(`${service.url}/health/live`);
    const slow = await inFlight;
    await shutdown;

    expect(readyDuringDrain.status).toBe(503);
    expect(liveDuringDrain.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(await slow.json()).toEqual({ finished: true });
    await expect(fetch(`${service.url}/health/live`)).rejects.toThrow();
  });
});
