// The reference point of bench/gateway.bench.ts: NestJS 11 on Fastify with one route that parses the same JSON body
// and answers, nothing else. Run as its own process (`node --import tsx`); the decorators are applied by hand, as tsx
// emits no decorator metadata and the controller needs none.
import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';

class BareController {
  receive(body: { user?: { user_id?: unknown } } | undefined): { user_id: unknown; allowed: boolean } {
    return { user_id: body?.user?.user_id ?? null, allowed: true };
  }
}
Controller('optimove')(BareController);
const receive = Object.getOwnPropertyDescriptor(BareController.prototype, 'receive')!;
Post('triggered')(BareController.prototype, 'receive', receive);
HttpCode(200)(BareController.prototype, 'receive', receive);
Body()(BareController.prototype, 'receive', 0);

class BareModule {}
Module({ controllers: [BareController] })(BareModule);

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(BareModule, new FastifyAdapter({ logger: false }), {
    logger: false,
  });
  await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
  process.stdout.write(`listening on ${await app.getUrl()}\n`);
  const stop = (): void => {
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
