import { CompiledComplianceRules, compileComplianceRules, ComplianceRules } from '@app/compliance';
import { DecisionMode } from './decision';

/** When a policy activates promos: `whenPromoCode` activates when the campaign or the customer row carries a code. */
export type PromoMode = 'always' | 'never' | 'whenPromoCode';

/** Which campaigns a policy applies to; each non-empty list must contain the campaign's value, empty lists fit all. */
export interface PolicyMatch {
  campaignIds: readonly string[];
  actionIds: readonly string[];
  seriesIds: readonly string[];
  tags: readonly string[];
  promoCodes: readonly string[];
}

/** What a policy is given to match against. */
export interface PolicyContext {
  campaignId?: string | null;
  actionId?: string | null;
  seriesId?: string | null;
  tags?: readonly string[];
  promoCodes?: readonly string[];
}

/** A policy as written in the policy file (defaults applied). */
export interface PolicyDefinition {
  name: string;
  match: PolicyMatch;
  mode: DecisionMode;
  compliance: ComplianceRules;
  promo: PromoMode;
  allowVisitors: boolean;
}

/** A validated policy, ready to match and to evaluate. */
export interface Policy extends PolicyDefinition {
  readonly rules: CompiledComplianceRules;
  /** True when the policy may call the promo system (it activates, and it is not in shadow mode). */
  readonly activatesPromos: boolean;
  matches(context: PolicyContext): boolean;
}

/** The contract's built-in default policy, used when no policy file is given or when no policy matches. */
export const DEFAULT_POLICY_DEFINITION: PolicyDefinition = {
  name: 'default',
  match: { campaignIds: [], actionIds: [], seriesIds: [], tags: [], promoCodes: [] },
  mode: 'enforce',
  compliance: {
    accountStatuses: ['active'],
    minDepositTotal: null,
    allowedCountries: [],
    blockedCountries: [],
    requireKyc: false,
    denySelfExcluded: true,
  },
  promo: 'whenPromoCode',
  allowVisitors: false,
};

function setOrNull(values: readonly string[]): ReadonlySet<string> | null {
  return values.length === 0 ? null : new Set(values);
}

function anyIn(set: ReadonlySet<string>, values: readonly string[] | undefined): boolean {
  return values !== undefined && values.some((value) => set.has(value));
}

function fits(set: ReadonlySet<string> | null, value: string | null | undefined): boolean {
  return set === null || (value !== null && value !== undefined && set.has(value));
}

/** Turns a definition into a policy: compiled compliance rules and a fast matcher. */
export function createPolicy(definition: PolicyDefinition): Policy {
  const campaignIds = setOrNull(definition.match.campaignIds);
  const actionIds = setOrNull(definition.match.actionIds);
  const seriesIds = setOrNull(definition.match.seriesIds);
  const tags = setOrNull(definition.match.tags);
  const promoCodes = setOrNull(definition.match.promoCodes);

  return {
    ...definition,
    rules: compileComplianceRules(definition.compliance),
    activatesPromos: definition.promo !== 'never' && definition.mode === 'enforce',
    matches: (context) =>
      fits(campaignIds, context.campaignId) &&
      fits(actionIds, context.actionId) &&
      fits(seriesIds, context.seriesId) &&
      (tags === null || anyIn(tags, context.tags)) &&
      (promoCodes === null || anyIn(promoCodes, context.promoCodes)),
  };
}

/** True when a match has no list, so that it fits every campaign. */
export function matchesAll(match: PolicyMatch): boolean {
  return Object.values(match).every((values: readonly string[]) => values.length === 0);
}

/** The policies of the service in file order, then the built-in default. The first that matches applies. */
export class PolicySet {
  readonly policies: readonly Policy[];
  readonly fallback: Policy;

  constructor(definitions: readonly PolicyDefinition[], fallback: PolicyDefinition = DEFAULT_POLICY_DEFINITION) {
    this.policies = definitions.map(createPolicy);
    this.fallback = createPolicy(fallback);
  }

  /** The first policy whose match fits, else the built-in default. */
  select(context: PolicyContext): Policy {
    for (const policy of this.policies) {
      if (policy.matches(context)) {
        return policy;
      }
    }

    return this.fallback;
  }

  /** Every policy that can apply: those of the file, and the default unless a catch-all policy hides it. */
  reachable(): Policy[] {
    const catchAll = this.policies.findIndex((policy) => matchesAll(policy.match));

    return catchAll === -1 ? [...this.policies, this.fallback] : this.policies.slice(0, catchAll + 1);
  }
}
