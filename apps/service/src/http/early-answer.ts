import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

type EarlyHook = (request: FastifyRequest, reply: FastifyReply, done: () => void) => void;

/**
 * Adds an onRequest hook that hands a request to its route's own hook when the route's config holds one under
 * `configKey`, and runs nothing else of its own for it. Added before Nest creates the application, it runs before
 * the app's other hooks and before Nest's middleware (registered as an onRequest hook when the application is
 * created; only the Fastify adapter's own few hooks come first): a route that answers on the raw response (the
 * triggered gateway) then costs no middleware matching. The hook it hands over to must end the
 * request's hooks itself (the gateway hijacks the reply); the request id is put on the reply first, as the app's own
 * hook does for other routes.
 */
export function answerEarly(fastify: FastifyInstance, configKey: string, requestIdHeader: string): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const early = (request.routeOptions.config as object as Record<string, unknown> | undefined)?.[configKey];
    if (typeof early !== 'function') {
      done();

      return;
    }
    void reply.header(requestIdHeader, request.id);
    (early as EarlyHook)(request, reply, done);
  });
}
