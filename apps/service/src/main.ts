import 'reflect-metadata';
import { ConfigurationError, parseServiceConfig, ServiceConfig } from '@app/config';
import { describeDatabaseUrl, EmbeddedDatabase, startEmbeddedDatabase } from '@app/database';
import { describeError } from '@app/observability';
import pino from 'pino';
import { AppModule } from './app.module';
import { createServiceApp, exitOnSignals } from './bootstrap';

const log = pino({ base: { context: 'Bootstrap' } });
const EMBEDDED_POOL_MAX = 2;

async function main(): Promise<void> {
  let config = readConfig();
  log.level = config.log.level;

  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    embedded = await startEmbeddedDatabase(config.database.embeddedDataDir);
    databaseUrl = embedded.url;
    config = withEmbeddedLimits(config);
    log.warn(
      { dataDir: embedded.dataDir, poolMax: config.database.poolMax },
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

/**
 * PGlite is one database session behind a socket: it serialises transactions, and many pooled connections
 * interleave their statements badly. A local run keeps two connections and decides one slice at a time.
 */
function withEmbeddedLimits(config: ServiceConfig): ServiceConfig {
  return {
    ...config,
    database: { ...config.database, poolMax: Math.min(config.database.poolMax, EMBEDDED_POOL_MAX) },
    clearance: { ...config.clearance, sliceConcurrency: 1 },
  };
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
  log.fatal({ err: error }, `start-up failed: ${describeError(error)}`);
  process.exit(1);
});
