import { parseServiceConfig, ServiceConfig } from '@app/config';
import { DynamicModule, Type } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../../apps/service/src/app.module';
import { createServiceApp } from '../../apps/service/src/bootstrap';

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  config: ServiceConfig;
  close(): Promise<void>;
}

/**
 * Starts the real service in this process on a random port against `databaseUrl`, with optional extra controllers
 * (test-only endpoints) and modules (test-only middleware, say). Environment variables are given explicitly, never
 * taken from the test's own environment.
 */
export async function startService(
  databaseUrl: string,
  env: Record<string, string> = {},
  extraControllers: Type[] = [],
  extraImports: Type[] = [],
): Promise<RunningService> {
  const config = parseServiceConfig({
    LOG_LEVEL: 'warn',
    PORT: '0',
    HOST: '127.0.0.1',
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const root: DynamicModule = {
    module: class TestRootModule {},
    imports: [AppModule.forRoot({ config, databaseUrl }), ...extraImports],
  };
  root.controllers = extraControllers;
  const app = await createServiceApp(config, root);
  await app.listen({ port: 0, host: '127.0.0.1' });

  return { app, url: await app.getUrl(), config, close: () => app.close() };
}
