import { DataSource, DataSourceOptions, MigrationInterface } from 'typeorm';
import { DatabaseModuleOptions } from './database.options';
import { MIGRATIONS } from './migrations';
import { StructuredTypeOrmLogger } from './typeorm-logger';

type MigrationClass = new () => MigrationInterface;

export type DataSourceSettings = Omit<DatabaseModuleOptions, 'startupTimeoutMs' | 'migrate'>;

/** TypeORM options for PostgreSQL: never `synchronize`, bounded pool waits, migrations listed explicitly. */
export function buildDataSourceOptions(
  settings: DataSourceSettings,
  migrations: MigrationClass[] = MIGRATIONS,
): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.url,
    synchronize: false,
    migrationsRun: false,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    entities: [],
    installExtensions: false,
    uuidExtension: 'pgcrypto',
    logging: ['error', 'warn', 'migration'],
    logger: new StructuredTypeOrmLogger(),
    maxQueryExecutionTime: 1_000,
    extra: {
      max: settings.poolMax,
      connectionTimeoutMillis: settings.acquireTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      idle_in_transaction_session_timeout: Math.max(settings.statementTimeoutMs, 60_000),
      application_name: settings.applicationName,
    },
  };
}

export function createDataSource(settings: DataSourceSettings, migrations?: MigrationClass[]): DataSource {
  return new DataSource(buildDataSourceOptions(settings, migrations));
}
