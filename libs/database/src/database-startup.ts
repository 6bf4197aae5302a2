import { describeError } from '@app/observability';
import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { createDataSource, DataSourceSettings } from './data-source.factory';

const MIGRATION_LOCK_KEY = 'optimove-clearance:migrations';
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 5_000;

/** The database could not be reached, or its schema could not be brought up to date, at start-up. */
export class DatabaseStartupError extends Error {
  readonly code = 'DATABASE_STARTUP_FAILED';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseStartupError';
  }
}

/** `postgres://user:secret@host:5432/db` shown as `host:5432/db`, so that no credential reaches a log line. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);

    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Opens a data source, retrying with exponential backoff while the database is unreachable, for at most
 * `startupTimeoutMs`. Each attempt gets a fresh data source so that a failed pool is never reused.
 */
export async function connectWithRetry(
  settings: DataSourceSettings,
  startupTimeoutMs: number,
  logger = new Logger('Database'),
): Promise<DataSource> {
  const target = describeDatabaseUrl(settings.url);
  const giveUpAt = Date.now() + startupTimeoutMs;
  let delay = FIRST_RETRY_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    const dataSource = createDataSource(settings);
    try {
      return await dataSource.initialize();
    } catch (error) {
      await dataSource.destroy().catch(() => undefined);
      const reason = describeError(error);
      if (Date.now() + delay > giveUpAt) {
        throw new DatabaseStartupError(
          `database at ${target} is unreachable after ${attempt} attempt(s) over ${startupTimeoutMs} ms: ${reason}`,
          { cause: error },
        );
      }
      logger.warn(
        `database at ${target} is not reachable yet (attempt ${attempt}: ${reason}); retrying in ${delay} ms`,
      );
      await sleep(delay);
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  }
}

/**
 * Applies pending migrations, each in its own transaction, while holding a session advisory lock so that replicas
 * starting together apply them once. A failing migration is rolled back whole and reported.
 */
export async function applyMigrations(dataSource: DataSource, logger = new Logger('Database')): Promise<string[]> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    for (const migration of applied) {
      logger.log(`applied migration ${migration.name}`);
    }

    return applied.map((migration) => migration.name);
  } catch (error) {
    const reason = describeError(error);
    throw new DatabaseStartupError(`migration failed and was rolled back: ${reason}`, { cause: error });
  } finally {
    await lockRunner.query(`SELECT pg_advisory_unlock_all()`).catch(() => undefined);
    await lockRunner.release();
  }
}

/** True when every known migration has been applied. */
export async function migrationsAreApplied(dataSource: DataSource): Promise<boolean> {
  return !(await dataSource.showMigrations());
}
