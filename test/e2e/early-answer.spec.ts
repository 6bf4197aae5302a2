import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { RunningService, startService } from '../support/service-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const seenByMiddleware: string[] = [];

/** A Nest middleware on every route, as the request logger is: it notes each request it sees. */
@Module({})
class NotingMiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((request: { url?: string; originalUrl?: string }, _response: unknown, next: () => void) => {
        seenByMiddleware.push(request.originalUrl ?? request.url ?? '');
        next();
      })
      .forRoutes({ path: '{*splat}', method: RequestMethod.ALL });
  }
}

describe('the gateway ahead of Nest middleware (the real service wiring)', () => {
  let database: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    database = await createTestDatabase('early_answer');
    service = await startService(
      database.url,
      { GATEWAY_TOKEN: 'early-answer-test-token' },
      [],
      [NotingMiddlewareModule],
    );
  });

  afterAll(async () => {
    await service?.close();
    await database?.drop();
  });

  it('should answer the gateway before any middleware, with the request id, leaving other routes to it', async () => {
    const gateway = await fetch(`${service.url}/optimove/triggered?token=wrong`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'early-1' },
      body: '{}',
    });
    const live = await fetch(`${service.url}/health/live`);

    expect(gateway.status).toBe(401);
    expect(gateway.headers.get('x-request-id')).toBe('early-1');
    expect(live.status).toBe(200);
    expect(seenByMiddleware).toEqual(['/health/live']);
  });
});
