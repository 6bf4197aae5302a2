import { CoalescingProfileSource, ProfileSourcePort } from '@app/compliance';
import { DecisionEngine, DecisionRecorderPort, PolicySet } from '@app/decisions';
import { PromoActivationPort, RecordingPromoActivationAdapter } from '@app/promo-activation';
import { Logger, Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { BreakingProfileSourceAdapter } from './breaking-profile-source.adapter';
import { BreakingPromoActivationAdapter } from './breaking-promo-activation.adapter';
import { BreakerState, CircuitBreaker, CircuitBreakerOptions } from './circuit-breaker';
import { EarlierAnswers } from './earlier-answers.repository';
import { GatewayMetrics } from './gateway.metrics';
import {
  ConfigurableTriggeredGatewayModule,
  TRIGGERED_GATEWAY_MODULE_OPTIONS,
} from './triggered-gateway.module-definition';
import { TriggeredGatewayModuleOptions } from './triggered-gateway.options';
import { TriggeredGateway } from './triggered-gateway.service';

/** The gateway's own engine: the shared policies and recorder, with the ports behind the gateway's breakers. */
export const GATEWAY_ENGINE = Symbol('GATEWAY_ENGINE');

function breakerFor(
  dependency: 'profile' | 'promo',
  options: CircuitBreakerOptions | undefined,
  metrics: GatewayMetrics,
): CircuitBreaker {
  const logger = new Logger(`GatewayBreaker:${dependency}`);
  const breaker = new CircuitBreaker({
    ...options,
    onStateChange: (state: BreakerState, previous: BreakerState) => {
      metrics.breakerChanged(dependency, state);
      if (state === 'open') {
        logger.warn(`the ${dependency} circuit is open: gateway requests that need it are denied at once`);
      } else {
        logger.log(`the ${dependency} circuit went from ${previous} to ${state}`);
      }
      options?.onStateChange?.(state, previous);
    },
  });
  metrics.watch(dependency, breaker);

  return breaker;
}

function createEngine(
  policies: PolicySet,
  recorder: DecisionRecorderPort,
  profiles: ProfileSourcePort | null | undefined,
  promos: PromoActivationPort | null | undefined,
  options: TriggeredGatewayModuleOptions,
  metrics: GatewayMetrics,
  registry: Registry,
): DecisionEngine {
  const guardedProfiles = profiles
    ? new BreakingProfileSourceAdapter(
        // Concurrent requests share one batch call: one round trip to the source instead of one each.
        new CoalescingProfileSource(profiles),
        breakerFor('profile', options.profileBreaker, metrics),
      )
    : null;
  const guardedPromos = promos
    ? new BreakingPromoActivationAdapter(promos, breakerFor('promo', options.promoBreaker, metrics))
    : null;

  return new DecisionEngine(policies, recorder, guardedProfiles, guardedPromos, {
    promoConcurrency: options.promoConcurrency,
    registry,
  });
}

/**
 * `POST /optimove/triggered`: Optimove's conditional gateway, a route the gateway registers on Fastify itself
 * (see `TriggeredGateway`; its OpenAPI description is `GATEWAY_OPENAPI_PATHS`). Needs the global `PolicySet`
 * (decisions module), `DataSource` and `Registry`, `DecisionRecorderPort` (pass the audit module in `imports` of
 * `forRootAsync`), and the profile and promo ports when configured. Builds its own `DecisionEngine` over the same
 * policies and recorder, with each port behind a circuit breaker, so that the breakers shape gateway traffic only.
 */
@Module({
  providers: [
    { provide: GatewayMetrics, inject: [Registry], useFactory: (registry: Registry) => new GatewayMetrics(registry) },
    {
      provide: GATEWAY_ENGINE,
      inject: [
        PolicySet,
        DecisionRecorderPort,
        { token: ProfileSourcePort, optional: true },
        { token: PromoActivationPort, optional: true },
        TRIGGERED_GATEWAY_MODULE_OPTIONS,
        GatewayMetrics,
        Registry,
      ],
      useFactory: createEngine,
    },
    {
      provide: TriggeredGateway,
      inject: [
        TRIGGERED_GATEWAY_MODULE_OPTIONS,
        GATEWAY_ENGINE,
        DecisionRecorderPort,
        DataSource,
        GatewayMetrics,
        { token: HttpAdapterHost, optional: true },
        { token: PromoActivationPort, optional: true },
      ],
      useFactory: (
        options: TriggeredGatewayModuleOptions,
        engine: DecisionEngine,
        recorder: DecisionRecorderPort,
        dataSource: DataSource,
        metrics: GatewayMetrics,
        adapterHost: HttpAdapterHost | undefined,
        promos: PromoActivationPort | null | undefined,
      ) =>
        new TriggeredGateway(
          {
            token: options.token,
            budgetMs: options.timeoutMs <= 0 ? 0 : Math.max(0, options.timeoutMs - options.marginMs),
            commitReserveMs: options.commitReserveMs ?? 50,
          },
          engine,
          recorder,
          new EarlierAnswers(
            dataSource,
            options.answerCacheSize ?? 10_000,
            // Activations are reserved in the look-up only where they are recorded in that very ledger.
            promos instanceof RecordingPromoActivationAdapter ? promos.ledger : null,
          ),
          metrics,
          adapterHost,
        ),
    },
  ],
  exports: [TriggeredGateway, GATEWAY_ENGINE],
})
export class TriggeredGatewayModule extends ConfigurableTriggeredGatewayModule {}
