import { ServiceConfig } from '@app/config';
import { DRAINING_DECORATOR, EARLY_ANSWER, GATEWAY_OPENAPI_PATHS, GATEWAY_PATH } from '@app/triggered-gateway';
import { DynamicModule, Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { storage } from 'nestjs-pino/storage';
import { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShutdownState } from './health/shutdown-state';
import { REQUEST_ID_HEADER, requestIdOf } from './logging/logging.options';
import { answerEarly } from './http/early-answer';
import { disableRequestContextWhenIdle } from './logging/request-context';

/**
 * Creates the service on Fastify with its logger and OpenAPI page, ready to `listen`. `main` passes AppModule;
 * tests may wrap it with test-only parts.
 */
export async function createServiceApp(
  config: ServiceConfig,
  rootModule: DynamicModule,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimitBytes,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => requestIdOf(req.headers),
  });
  // Hooked before the application is created, so ahead of Nest's middleware hook: the gateway answers from the
  // first of the app's hooks, and the request context is counted before the middleware can enter it.
  answerEarly(adapter.getInstance(), EARLY_ANSWER, REQUEST_ID_HEADER);
  // The request logger's context is excluded from the gateway's route (see logging.options.ts).
  disableRequestContextWhenIdle(
    adapter.getInstance(),
    storage,
    (request) => request.method === 'POST' && request.routeOptions.url === GATEWAY_PATH,
  );
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  const shutdown = app.get(ShutdownState);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  // Once draining, every answer closes its connection, so that no idle keep-alive socket holds the server open
  // and clients reconnect to a replica that is staying. The triggered gateway answers on the raw response, where
  // onSend hooks do not run: it asks the decorator instead.
  fastify.decorate(DRAINING_DECORATOR, () => shutdown.isShuttingDown);
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (shutdown.isShuttingDown) {
      void reply.header('connection', 'close');
    }
    done(null, payload);
  });
  setUpOpenApi(app);

  return app;
}

function setUpOpenApi(app: NestFastifyApplication): void {
  const document = new DocumentBuilder()
    .setTitle('Optimove Conditional Execution: brand-side approvals')
    .setDescription(
      'Decides, customer by customer, who may receive an Optimove campaign: the scheduled clearance listener, ' +
        'the triggered gateway, the audit API and the operations endpoints.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An audit API key (AUDIT_API_KEYS).' })
    .build();
  const describe = (): OpenAPIObject => {
    const described = SwaggerModule.createDocument(app, document);
    // The gateway's route is Fastify's own, so no controller describes it.
    Object.assign(described.paths, GATEWAY_OPENAPI_PATHS);

    return described;
  };
  SwaggerModule.setup('docs', app, describe, {
    jsonDocumentUrl: 'docs-json',
  });
}

/**
 * Graceful shutdown: readiness turns 503 at once, the server keeps serving for `drainMs` so that load balancers
 * stop routing here, then it stops accepting, lets in-flight requests finish and closes its connections.
 */
export async function shutDownGracefully(app: NestFastifyApplication, drainMs: number): Promise<void> {
  app.get(ShutdownState).begin();
  await sleep(drainMs);
  await app.close();
}

/** Drains on SIGTERM or SIGINT and exits 0; exits 1 if the drain overruns `timeoutMs` or fails. */
export function exitOnSignals(
  app: NestFastifyApplication,
  config: ServiceConfig,
  afterClose: () => Promise<void> = () => Promise.resolve(),
): void {
  const logger = new NestLogger('Shutdown');
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) {
      return;
    }
    started = true;
    logger.log(`received ${signal}: readiness is now 503, draining for ${config.shutdown.drainMs} ms`);
    const overrun = setTimeout(() => {
      logger.error(`shutdown did not finish within ${config.shutdown.timeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdown.timeoutMs);
    overrun.unref();
    shutDownGracefully(app, config.shutdown.drainMs)
      .then(afterClose)
      .then(() => {
        logger.log('shutdown complete');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error(error instanceof Error ? error : String(error), 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
