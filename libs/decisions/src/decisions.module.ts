import { ProfileSourcePort } from '@app/compliance';
import { PromoActivationPort } from '@app/promo-activation';
import { Logger, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { DecisionEngine } from './decision-engine.service';
import { DecisionRecorderPort } from './decision-recorder.port';
import { ConfigurableDecisionsModule, DECISIONS_MODULE_OPTIONS } from './decisions.module-definition';
import { DecisionsModuleOptions } from './decisions.options';
import { PolicySet } from './policy';
import { assertPolicyDependencies, PolicyDependencyError } from './policy-dependencies';
import { loadPolicies, parsePolicyDocument } from './policy-file';

async function createPolicySet(
  options: DecisionsModuleOptions,
  profiles: ProfileSourcePort | null | undefined,
  promos: PromoActivationPort | null | undefined,
): Promise<PolicySet> {
  const policies =
    options.policyDocument === undefined
      ? await loadPolicies(options.policyFile)
      : new PolicySet(parsePolicyDocument(options.policyDocument, 'policyDocument'));
  try {
    assertPolicyDependencies(policies, {
      profileSource: profiles !== null && profiles !== undefined,
      promoSystem: promos !== null && promos !== undefined,
    });
  } catch (error) {
    if (options.requireAdapters !== false || !(error instanceof PolicyDependencyError)) {
      throw error;
    }
    new Logger('Policies').warn(`${error.message}: every decision that needs them will be denied (*_UNAVAILABLE)`);
  }

  return policies;
}

/**
 * Provides the validated `PolicySet` and the `DecisionEngine`. Needs `DecisionRecorderPort` (the audit module) and,
 * as the policies require, `ProfileSourcePort` and `PromoActivationPort` (global modules, or `imports` of
 * `forRootAsync`). Start-up fails when the policy file is invalid or a policy needs an adapter that is missing.
 */
@Module({
  providers: [
    {
      provide: PolicySet,
      inject: [
        DECISIONS_MODULE_OPTIONS,
        { token: ProfileSourcePort, optional: true },
        { token: PromoActivationPort, optional: true },
      ],
      useFactory: createPolicySet,
    },
    {
      provide: DecisionEngine,
      inject: [
        PolicySet,
        DecisionRecorderPort,
        { token: ProfileSourcePort, optional: true },
        { token: PromoActivationPort, optional: true },
        DECISIONS_MODULE_OPTIONS,
        { token: Registry, optional: true },
      ],
      useFactory: (
        policies: PolicySet,
        recorder: DecisionRecorderPort,
        profiles: ProfileSourcePort | null | undefined,
        promos: PromoActivationPort | null | undefined,
        options: DecisionsModuleOptions,
        registry?: Registry,
      ) => new DecisionEngine(policies, recorder, profiles ?? null, promos ?? null, { registry, ...options }),
    },
  ],
  exports: [PolicySet, DecisionEngine],
})
export class DecisionsModule extends ConfigurableDecisionsModule {}
