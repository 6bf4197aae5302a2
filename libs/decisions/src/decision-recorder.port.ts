import { Decision } from './decision';

/**
 * Where decisions are committed (the audit writer implements it). `record` resolves only once every decision given
 * is durably committed, and rejects if any of them is not: the engine then denies the whole call.
 */
export abstract class DecisionRecorderPort {
  abstract record(decisions: readonly Decision[]): Promise<void>;
}
