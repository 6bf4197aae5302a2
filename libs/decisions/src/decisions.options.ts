import { DecisionEngineOptions } from './decision-engine.service';

/** Options of {@link DecisionsModule}; the app maps `POLICY_FILE` and `PROMO_CONCURRENCY` into them. */
export interface DecisionsModuleOptions extends DecisionEngineOptions {
  /** JSON or YAML policy file; without it (and without `policyDocument`) the built-in default applies. */
  policyFile?: string;
  /** A policy document given inline (same format as the file); takes precedence over `policyFile`. */
  policyDocument?: unknown;
  /**
   * Refuse to start when a policy needs an adapter that is not configured. Off only for the built-in default
   * policy outside production, so that a bare local run starts (and denies with *_UNAVAILABLE) instead of failing.
   * @default true
   */
  requireAdapters?: boolean;
}
