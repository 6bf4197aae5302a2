import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, SERVICE_MAIN, spawnNode, waitForStatus } from '../support/processes';
import { createTestDatabase, TestDatabase } from '../support/test-database';

describe('the service process (npm start)', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('startup');
  });

  afterAll(async () => {
    await database.drop();
  });

  it('should refuse to start in production without DATABASE_URL, naming it', async () => {
    const sut = spawnNode(SERVICE_MAIN, { NODE_ENV: 'production' });

    expect(await sut.exited()).not.toBe(0);
    expect(sut.output()).toMatch(/DATABASE_URL is required when NODE_ENV=production/);
  });

  it('should name two bad variables in one error and exit non-zero', async () => {
    const sut = spawnNode(SERVICE_MAIN, { PORT: 'eighty', GATEWAY_MARGIN_MS: 'lots', DATABASE_URL: database.url });

    expect(await sut.exited()).not.toBe(0);
    const fatal = sut
      .output()
      .split('\n')
      .filter((line) => line.includes('Invalid configuration'));
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/2 problems/);
    expect(fatal[0]).toContain('PORT');
    expect(fatal[0]).toContain('GATEWAY_MARGIN_MS');
  });

  it('should give up on an unreachable database after the start-up timeout, exit non-zero and say why', async () => {
    const sut = spawnNode(SERVICE_MAIN, {
      DATABASE_URL: 'postgres://postgres:not-to-be-logged@127.0.0.1:1/nowhere',
      DATABASE_STARTUP_TIMEOUT_SECONDS: '1',
      PORT: String(await freePort()),
    });

    expect(await sut.exited()).toBe(1);
    expect(sut.output()).toMatch(/database at 127\.0\.0\.1:1\/nowhere is unreachable/);
    expect(sut.output()).not.toContain('not-to-be-logged');
  });

  it('should start on an embedded database when DATABASE_URL is unset, say so, and be ready', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'embedded-'));
    const port = await freePort();
    const sut = spawnNode(SERVICE_MAIN, { EMBEDDED_DATABASE_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200, 40_000);

      expect(sut.output()).toMatch(/embedded PostgreSQL \(PGlite\)/);
      sut.child.kill('SIGTERM');
      expect(await sut.exited()).toBe(0);
    } finally {
      sut.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('should drain on SIGTERM: readiness 503 first, requests still answered, exit 0, secrets never logged', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const sut = spawnNode(SERVICE_MAIN, {
      DATABASE_URL: database.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      SHUTDOWN_DRAIN_MS: '1500',
    });
    await waitForStatus(`${base}/health/ready`, 200, 20_000);
    await fetch(`${base}/nowhere?token=query-secret-1234567890`, {
      headers: { authorization: 'Bearer header-secret-1234567890', 'x-api-key': 'api-key-secret-1234567890' },
    });

    sut.child.kill('SIGTERM');
    await sleep(200);
    const readyWhileDraining = await fetch(`${base}/health/ready`);
    const liveWhileDraining = await fetch(`${base}/health/live`);

    expect(readyWhileDraining.status).toBe(503);
    expect(liveWhileDraining.status).toBe(200);
    expect(await sut.exited()).toBe(0);
    const logs = sut.output();
    expect(logs).toContain('token=[REDACTED]');
    expect(logs).not.toMatch(/query-secret|header-secret|api-key-secret/);
    expect(logs).toMatch(/"msg":"shutdown complete"/);
  });
});
