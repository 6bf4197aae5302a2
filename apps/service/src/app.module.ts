import { ServiceConfig } from '@app/config';
import { AuditApiModule } from '@app/audit';
import { DatabaseModule } from '@app/database';
import { MetricsModule } from '@app/observability';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { HttpExceptionFilter } from './errors/http-exception.filter';
import { HealthController } from './health/health.controller';
import { ShutdownState } from './health/shutdown-state';
import { buildLoggerParams } from './logging/logging.options';
import { MetricsController } from './metrics/metrics.controller';
import { SERVICE_CONFIG } from './service-config.token';

export interface AppModuleOptions {
  config: ServiceConfig;
  /** The database actually used: `config.database.url`, or the embedded one started for a local run. */
  databaseUrl: string;
}

/** The composition root: maps the validated configuration into each library's options. */
@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot(buildLoggerParams(config.log.level)),
        TerminusModule.forRoot({ logger: false }),
        MetricsModule,
        DatabaseModule.forRoot({
          isGlobal: true,
          url: databaseUrl,
          poolMax: config.database.poolMax,
          acquireTimeoutMs: config.database.acquireTimeoutMs,
          statementTimeoutMs: config.database.statementTimeoutMs,
          startupTimeoutMs: config.database.startupTimeoutMs,
          migrate: config.database.migrateOnStart,
          applicationName: 'optimove-clearance',
        }),
        AuditApiModule.forRoot({ apiKeys: config.audit.apiKeys, rateLimit: config.audit.rateLimit }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        ShutdownState,
      ],
      exports: [SERVICE_CONFIG],
    };
  }
}
