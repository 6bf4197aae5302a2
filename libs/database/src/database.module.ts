import { Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { DatabaseHealthIndicator } from './database.health';
import { ConfigurableDatabaseModule, DATABASE_MODULE_OPTIONS } from './database.module-definition';
import { DatabaseModuleOptions } from './database.options';
import { applyMigrations, connectWithRetry, migrationsAreApplied } from './database-startup';
import { ensureDecisionPartitions } from './partitions';

@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) {
      await this.dataSource.destroy();
    }
  }
}

async function openDataSource(options: DatabaseModuleOptions): Promise<DataSource> {
  const logger = new Logger('Database');
  const dataSource = await connectWithRetry(options, options.startupTimeoutMs, logger);
  try {
    if (options.migrate !== false) {
      await applyMigrations(dataSource, logger);
    }
    if (await migrationsAreApplied(dataSource)) {
      await ensureDecisionPartitions(dataSource);
    } else {
      logger.warn('migrations are pending: readiness stays 503 until they are applied (npm run migrate)');
    }
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }

  return dataSource;
}

/**
 * The PostgreSQL data source of the service: connected with bounded retries, migrated under an advisory lock at
 * start-up, closed after the HTTP server on shutdown. Exports the `DataSource` and the readiness indicator.
 */
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: DataSource,
      inject: [DATABASE_MODULE_OPTIONS],
      useFactory: openDataSource,
    },
    DataSourceCloser,
    DatabaseHealthIndicator,
  ],
  exports: [DataSource, DatabaseHealthIndicator],
})
export class DatabaseModule extends ConfigurableDatabaseModule {}
