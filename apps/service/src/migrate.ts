import 'reflect-metadata';
import { ConfigurationError, parseServiceConfig } from '@app/config';
import { applyMigrations, connectWithRetry, describeDatabaseUrl, ensureDecisionPartitions } from '@app/database';
import { describeError } from '@app/observability';
import pino from 'pino';

const log = pino({ base: { context: 'Migrate' } });

/** Applies pending migrations to DATABASE_URL and exits: the step a rollout runs once before new pods start. */
async function migrate(): Promise<void> {
  const config = parseServiceConfig(process.env);
  const url = config.database.url;
  if (!url) {
    throw new Error('DATABASE_URL is required to run migrations');
  }
  const dataSource = await connectWithRetry(
    { url, poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 0, applicationName: 'optimove-clearance-migrate' },
    config.database.startupTimeoutMs,
  );
  try {
    const applied = await applyMigrations(dataSource);
    await ensureDecisionPartitions(dataSource);
    log.info({ database: describeDatabaseUrl(url), applied }, `${applied.length} migration(s) applied`);
  } finally {
    await dataSource.destroy();
  }
}

migrate().catch((error: unknown) => {
  const problems = error instanceof ConfigurationError ? error.problems : undefined;
  log.fatal({ problems }, describeError(error));
  process.exit(1);
});
