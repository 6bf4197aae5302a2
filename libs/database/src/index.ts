export { buildDataSourceOptions, createDataSource } from './data-source.factory';
export type { DataSourceSettings } from './data-source.factory';
export { DatabaseHealthIndicator } from './database.health';
export { DatabaseModule } from './database.module';
export type { DatabaseModuleOptions } from './database.options';
export {
  applyMigrations,
  connectWithRetry,
  DatabaseStartupError,
  describeDatabaseUrl,
  migrationsAreApplied,
} from './database-startup';
export { startEmbeddedDatabase } from './embedded-database';
export type { EmbeddedDatabase } from './embedded-database';
export { MIGRATIONS } from './migrations';
export { ensureDecisionPartitions } from './partitions';
export { rowsOf } from './rows';
export { isStorableText } from './storable-text';
