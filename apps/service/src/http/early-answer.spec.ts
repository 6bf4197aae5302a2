import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answerEarly } from './early-answer';

describe(answerEarly.name, () => {
  let app: FastifyInstance;
  let url: string;
  const laterHooks: string[] = [];

  beforeAll(async () => {
    app = Fastify({ genReqId: () => 'req-1' });
    answerEarly(app, 'early', 'x-request-id');
    app.addHook('onRequest', (request, _reply, done) => {
      laterHooks.push(request.url);
      done();
    });
    app.route({
      method: 'POST',
      url: '/early',
      config: {
        // As the gateway does: hijack, end the hooks, answer on the raw response with the reply's headers.
        early: (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
          reply.hijack();
          done();
          reply.raw.setHeader('x-request-id', String(reply.getHeader('x-request-id')));
          reply.raw.writeHead(200, { 'content-type': 'text/plain' });
          reply.raw.end('early');
        },
      },
      handler: (_request, reply) => reply.send('handler'),
    });
    app.post('/late', (_request, reply) => reply.send('late'));
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app.close();
  });

  it('should hand a route that asks for it to its early hook, ahead of later hooks, with the request id', async () => {
    laterHooks.length = 0;

    const response = await fetch(`${url}/early`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('req-1');
    await expect(response.text()).resolves.toBe('early');
    expect(laterHooks).toEqual([]);
  });

  it('should leave every other route to the hooks that follow', async () => {
    laterHooks.length = 0;

    const response = await fetch(`${url}/late`, { method: 'POST', body: '{}' });

    await expect(response.text()).resolves.toBe('late');
    expect(laterHooks).toEqual(['/late']);
  });
});
