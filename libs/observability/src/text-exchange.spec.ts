import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { ExchangeAbortedError, exchangeText } from './text-exchange';

describe('exchangeText', () => {
  let server: Server;
  let pool: Pool;
  let handle: (request: IncomingMessage, response: ServerResponse) => void;
  const closed: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.on('close', () => {
        if (!response.writableEnded) {
          closed.push(request.url ?? '');
        }
      });
      handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
  });

  afterAll(async () => {
    await pool.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('should read an answer sent in several chunks, multi-byte characters included, with its status', async () => {
    handle = (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const answer = Buffer.from(JSON.stringify({ echoed: body, name: 'Zoë 漢字' }));
        response.writeHead(201, { 'content-type': 'application/json' });
        response.write(answer.subarray(0, 20));
        setTimeout(() => response.end(answer.subarray(20)), 10);
      });
    };

    const answer = await exchangeText(pool, { method: 'POST', path: '/echo', body: 'hello' }, undefined, 1000);

    expect(answer.statusCode).toBe(201);
    expect(JSON.parse(answer.text)).toEqual({ echoed: 'hello', name: 'Zoë 漢字' });
  });

  it('should give up after its time limit, say so, and abort the request on its connection', async () => {
    handle = () => undefined;

    const failure = await exchangeText(pool, { method: 'GET', path: '/silent' }, undefined, 50).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(ExchangeAbortedError);
    expect(failure).toMatchObject({ timedOut: true, message: 'no answer within 50 ms' });
    await waitFor(() => closed.includes('/silent'));
  });

  it("should settle at once when the caller's signal aborts, even while waiting for a connection", async () => {
    handle = () => undefined;
    const settled: string[] = [];
    // The pool's one connection stays busy until this request's own limit.
    const busy = exchangeText(pool, { method: 'GET', path: '/busy' }, undefined, 300).catch((error: unknown) => {
      settled.push('busy');

      return error;
    });
    const control = new AbortController();
    const queued = exchangeText(pool, { method: 'GET', path: '/queued' }, control.signal, 5000).catch(
      (error: unknown) => {
        settled.push('queued');

        return error;
      },
    );
    const reason = new Error('the checks ended');
    setTimeout(() => control.abort(reason), 20);

    expect(await queued).toMatchObject({ timedOut: false, message: 'aborted', cause: reason });
    expect(await busy).toMatchObject({ timedOut: true });
    expect(settled).toEqual(['queued', 'busy']);
  });

  it('should reject an already aborted signal without sending anything', async () => {
    let received = 0;
    handle = (_request, response) => {
      received++;
      response.end();
    };
    const control = new AbortController();
    control.abort();

    await expect(exchangeText(pool, { method: 'GET', path: '/never' }, control.signal, 1000)).rejects.toMatchObject({
      timedOut: false,
    });
    expect(received).toBe(0);
  });

  it('should drop a leading byte-order mark, which JSON.parse would refuse', async () => {
    handle = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(Buffer.from('\uFEFF{"ok":true}', 'utf8'));
    };

    const answer = await exchangeText(pool, { method: 'GET', path: '/bom' }, undefined, 1000);

    expect(JSON.parse(answer.text)).toEqual({ ok: true });
  });

  it('should fail an answer larger than its limit as soon as it is, and abort it on its connection', async () => {
    handle = (_request, response) => {
      response.writeHead(404, { 'content-type': 'text/plain' });
      // Never ended: only the limit can end this exchange before its time does.
      response.write(Buffer.alloc(64 * 1024, 'x'));
    };

    const failure = await exchangeText(pool, { method: 'GET', path: '/huge' }, undefined, 5000, 16 * 1024).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ExchangeAbortedError);
    expect((failure as Error).message).toBe('the answer is larger than 16384 bytes');
    await waitFor(() => closed.includes('/huge'));
  });

  it('should pass on a transport failure as it is', async () => {
    const nowhere = new Pool('http://127.0.0.1:1', { connections: 1 });
    try {
      const failure = await exchangeText(nowhere, { method: 'GET', path: '/' }, undefined, 1000).catch(
        (error: unknown) => error,
      );

      expect(failure).toMatchObject({ code: 'ECONNREFUSED' });
      expect(failure).not.toBeInstanceOf(ExchangeAbortedError);
    } finally {
      await nowhere.close();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(condition()).toBe(true);
}
