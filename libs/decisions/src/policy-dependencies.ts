import { PolicySet } from './policy';

/** Which adapters the service has configured. */
export interface ConfiguredAdapters {
  profileSource: boolean;
  promoSystem: boolean;
}

/** A policy needs an adapter that is not configured; raised at start-up, never a silent skip. */
export class PolicyDependencyError extends Error {
  readonly code = 'POLICY_DEPENDENCY_MISSING';

  constructor(readonly problems: string[]) {
    super(`policies need adapters that are not configured: ${problems.join('; ')}`);
    this.name = 'PolicyDependencyError';
  }
}

/**
 * Throws when a policy that can apply needs the profile source (any compliance rule on) or the promo system (it
 * activates promos in enforce mode) and that adapter is not configured. The app calls it at start-up; the decisions
 * module calls it too with the ports it was given.
 */
export function assertPolicyDependencies(policies: PolicySet, configured: ConfiguredAdapters): void {
  const problems: string[] = [];
  for (const policy of policies.reachable()) {
    if (policy.rules.needsProfile && !configured.profileSource) {
      problems.push(`policy "${policy.name}" applies compliance rules but no profile source (PROFILE_API_URL) is set`);
    }
    if (policy.activatesPromos && !configured.promoSystem) {
      problems.push(
        `policy "${policy.name}" activates promos (promo: ${policy.promo}) but no promo system (PROMO_API_URL) is set`,
      );
    }
  }
  if (problems.length > 0) {
    throw new PolicyDependencyError(problems);
  }
}
