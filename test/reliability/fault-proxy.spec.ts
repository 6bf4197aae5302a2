import { once } from 'node:events';
import { AddressInfo, createConnection, createServer, Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy, startFaultProxy } from '../support/fault-proxy';

interface Outcome {
  data: string;
  error?: string;
}

/** Connects through the proxy, sends `message`, and gathers what comes back within `waitMs`. */
async function exchange(port: number, message: string, waitMs = 300): Promise<Outcome & { elapsedMs: number }> {
  const startedAt = Date.now();
  const socket = createConnection({ host: '127.0.0.1', port });
  const outcome: Outcome = { data: '' };
  socket.on('data', (chunk: Buffer) => (outcome.data += chunk.toString()));
  socket.on('error', (error: NodeJS.ErrnoException) => (outcome.error = error.code ?? error.message));
  socket.write(message);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && outcome.error === undefined && outcome.data.length < message.length) {
    await sleep(5);
  }
  socket.destroy();

  return { ...outcome, elapsedMs: Date.now() - startedAt };
}

async function connected(port: number): Promise<Socket & { received: string[]; failure?: string }> {
  const socket = Object.assign(createConnection({ host: '127.0.0.1', port }), {
    received: [] as string[],
    failure: undefined as string | undefined,
  });
  socket.on('data', (chunk: Buffer) => socket.received.push(chunk.toString()));
  socket.on('error', (error: NodeJS.ErrnoException) => (socket.failure = error.code));
  await once(socket, 'connect');

  return socket;
}

describe('fault proxy (against an echo server)', () => {
  let echo: Server;
  let proxy: FaultProxy;

  beforeAll(async () => {
    echo = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
  });

  beforeEach(async () => {
    proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: (echo.address() as AddressInfo).port } });
  });

  afterEach(async () => {
    await proxy.close();
  });

  afterAll(async () => {
    echo.close();
    await once(echo, 'close');
  });

  it('should forward both ways and count the bytes', async () => {
    const outcome = await exchange(proxy.port, 'hello');

    expect(outcome.data).toBe('hello');
    expect(outcome.error).toBeUndefined();
    expect(proxy.stats()).toMatchObject({ accepted: 1, bytesToTarget: 5, bytesToClient: 5 });
    expect(proxy.url('http')).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(proxy.rewrite('postgres://postgres@localhost:5432/db?x=1')).toBe(
      `postgres://postgres@127.0.0.1:${proxy.port}/db?x=1`,
    );
  });

  it('should add latency in each direction', async () => {
    proxy.setLatency(100);

    const outcome = await exchange(proxy.port, 'slow', 1_000);

    expect(outcome.data).toBe('slow');
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(190);
  });

  it('should hold a black-holed connection without an answer, and reset it when the black hole ends', async () => {
    const open = await connected(proxy.port);
    proxy.blackHole(true);
    open.write('lost');
    const held = await exchange(proxy.port, 'never', 300);

    expect(held.data).toBe('');
    expect(held.error).toBeUndefined();
    expect(open.received).toEqual([]);
    proxy.blackHole(false);
    await sleep(50);
    expect(open.failure).toBe('ECONNRESET');
    expect((await exchange(proxy.port, 'back')).data).toBe('back');
  });

  it('should reset every open connection', async () => {
    const sockets = await Promise.all([connected(proxy.port), connected(proxy.port)]);
    await sleep(20);

    expect(proxy.resetAll()).toBe(2);
    await sleep(50);
    expect(sockets.map((socket) => socket.failure)).toEqual(['ECONNRESET', 'ECONNRESET']);
    expect(proxy.stats()).toMatchObject({ reset: 2, open: 0 });
  });

  it('should refuse connections during a cut-off and accept them again after it', async () => {
    const open = await connected(proxy.port);
    proxy.cutOff(300);
    const refused = await exchange(proxy.port, 'refused');
    await sleep(50);

    expect(open.failure).toBe('ECONNRESET');
    expect(refused).toMatchObject({ data: '', error: 'ECONNRESET' });
    await sleep(300);
    expect((await exchange(proxy.port, 'again')).data).toBe('again');
    expect(proxy.stats().refused).toBe(1);
  });

  it('should end a cut-off without a duration on heal, and stop accepting once closed', async () => {
    proxy.cutOff();
    expect((await exchange(proxy.port, 'no')).error).toBe('ECONNRESET');
    proxy.heal();
    expect((await exchange(proxy.port, 'yes')).data).toBe('yes');
    await proxy.close();

    expect((await exchange(proxy.port, 'closed')).error).toBe('ECONNREFUSED');
  });

  it('should close itself at the end of its lifetime', async () => {
    const shortLived = await startFaultProxy({
      target: { host: '127.0.0.1', port: (echo.address() as AddressInfo).port },
      maxLifetimeMs: 100,
    });
    await sleep(200);

    expect((await exchange(shortLived.port, 'gone')).error).toBe('ECONNREFUSED');
  });
});
