import Fastify, { FastifyInstance } from 'fastify';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { disableRequestContextWhenIdle } from './request-context';

describe(disableRequestContextWhenIdle.name, () => {
  let app: FastifyInstance;
  let url: string;
  const storage = new AsyncLocalStorage<{ id: string }>();
  const disabled: number[] = [];
  let open = 0;

  beforeAll(async () => {
    app = Fastify();
    disableRequestContextWhenIdle(
      app,
      {
        disable: () => {
          disabled.push(open);
          storage.disable();
        },
      },
      (request) => request.url.startsWith('/skipped'),
    );
    // As nestjs-pino's middleware does: the rest of the request runs inside the storage.
    app.addHook('onRequest', (request, _reply, done) => {
      if (!request.url.startsWith('/skipped')) {
        storage.run({ id: String(request.query && (request.query as { id?: string }).id) }, done);
      } else {
        done();
      }
    });
    app.get('/slow', async () => {
      open++;
      await sleep(150);
      // The context is still there after the other request has closed.
      const seen = storage.getStore()?.id;
      open--;

      return { seen };
    });
    app.get('/fast', (_request, reply) => reply.send({ seen: storage.getStore()?.id }));
    app.get('/skipped/slow', async () => {
      await sleep(150);

      return { seen: storage.getStore()?.id ?? null };
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app.close();
  });

  beforeEach(() => {
    disabled.length = 0;
  });

  it('should disable the storage only once no request that may use it is open', async () => {
    const slow = fetch(`${url}/slow?id=slow`).then((response) => response.json());
    await sleep(30);
    const fast = await (await fetch(`${url}/fast?id=fast`)).json();
    const disabledWhileSlowWasOpen = disabled.length;

    expect(fast).toEqual({ seen: 'fast' });
    await expect(slow).resolves.toEqual({ seen: 'slow' });
    await sleep(20);
    expect(disabledWhileSlowWasOpen).toBe(0);
    expect(disabled).toEqual([0]);
  });

  it('should give the next request its context again after the storage was disabled', async () => {
    await fetch(`${url}/fast?id=first`);
    await sleep(20);

    const second = await (await fetch(`${url}/fast?id=second`)).json();

    expect(second).toEqual({ seen: 'second' });
    await sleep(20);
    expect(disabled).toHaveLength(2);
  });

  it('should not count a request it is told to skip: the storage is disabled while it is open', async () => {
    const skipped = fetch(`${url}/skipped/slow`).then((response) => response.json());
    await sleep(30);

    await fetch(`${url}/fast?id=alone`);
    await sleep(20);
    const disabledWhileSkippedWasOpen = [...disabled];

    await expect(skipped).resolves.toEqual({ seen: null });
    await sleep(20);
    expect(disabledWhileSkippedWasOpen).toEqual([0]);
    expect(disabled).toEqual([0]);
  });
});
