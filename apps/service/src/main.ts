import 'reflect-metadata';
import { ConfigurationError, parseServiceConfig, ServiceConfig } from '@app/config';
import { describeDatabaseUrl, EmbeddedDatabase, startEmbeddedDatabase } from '@app/database';
import pino from 'pino';
import { AppModule } from './app.module';
import { createServiceApp, exitOnSignals } from './bootstrap';

const log = pino({ base: { context: 'Bootstrap' } });

async function main(): Promise<void> {
  const config = readConfig();
  log.level = config.log.level;

  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    embedded = await startEmbeddedDatabase(config.database.embeddedDataDir);
    databaseUrl = embedded.url;
    log.warn(
      { dataDir: embedded.dataDir },
      'DATABASE_URL is unset: using an embedded PostgreSQL (PGlite) for this local run; set DATABASE_URL in production',
    );
  } else {
    log.info({ database: describeDatabaseUrl(databaseUrl) }, 'using PostgreSQL');
  }

  const app = await createServiceApp(config, AppModule.forRoot({ config, databaseUrl }));
  exitOnSignals(app, config, async () => embedded?.stop());
  await app.listen({ port: config.http.port, host: config.http.host });
  log.info({ url: await app.getUrl() }, 'service listening');
}

function readConfig(): ServiceConfig {
  try {
    return parseServiceConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      log.fatal({ problems: error.problems }, error.message);
      process.exit(2);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  log.fatal({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
