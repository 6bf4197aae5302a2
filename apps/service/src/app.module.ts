import { AuditApiModule, AuditIntegrityModule, AuditModule } from '@app/audit';
import { ServiceConfig } from '@app/config';
import { ComplianceModule } from '@app/compliance';
import { DatabaseModule } from '@app/database';
import { DecisionsModule } from '@app/decisions';
import { MetricsModule } from '@app/observability';
import { OptimoveModule } from '@app/optimove';
import { PromoActivationModule } from '@app/promo-activation';
import { TriggeredGatewayModule } from '@app/triggered-gateway';
import { ScheduledClearanceModule } from '@app/scheduled-clearance';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { Registry } from 'prom-client';
import { HttpExceptionFilter } from './errors/http-exception.filter';
import { HealthController } from './health/health.controller';
import { ShutdownState } from './health/shutdown-state';
import { buildLoggerParams } from './logging/logging.options';
import { MetricsController } from './metrics/metrics.controller';
import { OptimoveRegistrationController } from './operations/optimove-registration.controller';
import { OptimoveRegistration } from './operations/optimove-registration.service';
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
        ...optimoveModules(config),
        ComplianceModule.forRoot({
          isGlobal: true,
          profileSource: config.profile.apiUrl
            ? { url: config.profile.apiUrl, token: config.profile.apiToken }
            : undefined,
        }),
        PromoActivationModule.forRoot({
          isGlobal: true,
          promoSystem: config.promo.apiUrl ? { url: config.promo.apiUrl, token: config.promo.apiToken } : undefined,
        }),
        DecisionsModule.forRootAsync({
          isGlobal: true,
          imports: [AuditModule.forRoot({})],
          useFactory: () => ({
            policyFile: config.policyFile,
            promoConcurrency: config.promo.concurrency,
            requireAdapters: config.nodeEnv === 'production' || config.policyFile !== undefined,
          }),
        }),
        AuditApiModule.forRoot({ isGlobal: true, apiKeys: config.audit.apiKeys, rateLimit: config.audit.rateLimit }),
        AuditIntegrityModule.forRoot({ retentionMonths: config.audit.retentionMonths }),
        TriggeredGatewayModule.forRootAsync({
          imports: [AuditModule.forRoot({})],
          useFactory: () => ({ ...config.gateway, promoConcurrency: config.promo.concurrency }),
        }),
        ScheduledClearanceModule.forRoot({
          listenerToken: config.listener.token,
          timeZone: config.optimove.timezone,
          safetyMarginMs: config.clearance.safetyMarginSeconds * 1000,
          reportReserveMs: config.clearance.reportReserveSeconds * 1000,
          sliceConcurrency: config.clearance.sliceConcurrency,
          workersEnabled: config.clearance.workersEnabled,
          leaseMs: config.clearance.leaseSeconds * 1000,
        }),
      ],
      controllers: [HealthController, MetricsController, OptimoveRegistrationController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        ShutdownState,
        OptimoveRegistration,
      ],
      exports: [SERVICE_CONFIG],
    };
  }
}

/** The Optimove client, when the service is configured to reach Optimove. */
function optimoveModules(config: ServiceConfig): DynamicModule[] {
  const { apiUrl, apiKey, gatewayApiUrl, timezone, rateLimit } = config.optimove;
  if (!apiUrl || !apiKey) {
    return [];
  }

  return [
    OptimoveModule.forRootAsync({
      isGlobal: true,
      inject: [Registry],
      useFactory: (registry: Registry) => ({ apiUrl, apiKey, gatewayApiUrl, timeZone: timezone, rateLimit, registry }),
    }),
  ];
}
