import { setMaxListeners } from 'node:events';
import { counter, describeError } from '@app/observability';
import { Counter, Registry } from 'prom-client';
import { evaluateCompliance, evaluateVisitor, PROFILE_BATCH_LIMIT, Profile, ProfileSourcePort } from '@app/compliance';
import {
  activationIdempotencyKey,
  ActivationRequest,
  ActivationResult,
  PromoActivationPort,
} from '@app/promo-activation';
import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConcurrencyLimiter } from './concurrency-limiter';
import { CheckOutcome, CheckResult, Decision, Flow, Reason, ReasonCode } from './decision';
import { DecisionRecorderPort } from './decision-recorder.port';
import { Policy, PolicySet } from './policy';

/** One customer to decide. */
export interface CustomerToDecide {
  customerId: string;
  isVisitor?: boolean;
  /** The customer row's action, when it differs per customer (scheduled flow); else the request's. */
  actionId?: string | null;
  /** The customer row's promo codes (scheduled flow); else the request's campaign-level codes. */
  promoCodes?: readonly string[];
}

/** A batch of customers of one campaign occurrence to decide under one deadline. */
export interface DecisionBatchRequest {
  flow: Flow;
  campaignId: string;
  /** Identifies the campaign occurrence in idempotency keys: the clearance id, or the gateway's own occurrence id. */
  occurrence: string;
  clearanceId?: string | null;
  actionId?: string | null;
  seriesId?: string | null;
  tags?: readonly string[];
  promoCodes?: readonly string[];
  customers: readonly CustomerToDecide[];
  /** The policy to apply; when absent, the first matching policy is chosen for each customer. */
  policy?: Policy;
  /** Epoch ms by which every check must have finished; later, customers are denied (TIMEOUT or DEADLINE_EXCEEDED). */
  deadline: number;
  signal?: AbortSignal;
  /**
   * The caller aborts `signal` once `deadline` passes (the gateway's answer slot does): the engine then sets no timer
   * and makes no signal of its own for the deadline. Every check listens to that signal, so for many customers or
   * promo codes the caller raises its listener limit (`setMaxListeners`) as the engine does for its own.
   */
  signalCoversDeadline?: boolean;
  /** Epoch ms when the request arrived, for `latencyMs`; defaults to the call's start. */
  startedAt?: number;
  /**
   * Records this call's decisions instead of the engine's recorder: the scheduled flow commits a slice's decisions
   * in the same transaction as the slice's progress, under its lease.
   */
  recorder?: DecisionRecorderPort;
  /** Profile look-ups the caller already started through {@link DecisionEngine.startProfileLookUp}, by customer. */
  profileLookUps?: ReadonlyMap<string, Promise<Profile | null>>;
}

/**
 * The outcome of a batch. `recorded: false` means the recorder refused the decisions: every decision returned is
 * then a denial (its reasons start with AUDIT_UNAVAILABLE), none of them is in the audit, and any activation made for
 * the batch is being cancelled. Callers answer exactly what `decisions` say.
 */
export interface DecisionBatchResult {
  decisions: Decision[];
  recorded: boolean;
  error?: string;
}

/** Tuning of {@link DecisionEngine}. */
export interface DecisionEngineOptions {
  /** Promo activations in flight per replica, across all calls. @default 32 */
  promoConcurrency?: number;
  /** Batch profile look-ups in flight per call. @default 4 */
  profileConcurrency?: number;
  /** Time given to cancelling an activation whose customer ended up denied. @default 30000 */
  cancellationTimeoutMs?: number;
  /** Where `decisions_total{flow, outcome, reason}` is counted; nothing is counted when absent. */
  registry?: Registry;
}

interface WorkItem {
  customer: CustomerToDecide;
  policy: Policy;
  actionId: string | null;
  promoCodes: string[];
  reasons: Reason[];
  checks: CheckOutcome[];
  /** No further check runs for this customer. */
  settled: boolean;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The promise's outcome, or a rejection as soon as `signal` aborts (a look-up started under another signal). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    return Promise.reject(new Error('aborted'));
  }

  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function uniqueCodes(codes: readonly string[] | undefined): string[] {
  return codes === undefined || codes.length === 0 ? [] : [...new Set(codes)];
}

/**
 * Decides customers: visitor rule, then compliance on one batch profile look-up per 1,000 customers, then promo
 * activation only for customers who passed, so that nobody is granted a bonus and then denied. Every failure,
 * timeout or abort ends in a denial with a reason; the decisions are recorded before they are returned.
 */
export class DecisionEngine implements OnApplicationShutdown {
  private readonly logger = new Logger(DecisionEngine.name);
  private readonly promoLimiter: ConcurrencyLimiter;
  private readonly profileConcurrency: number;
  private readonly cancellationTimeoutMs: number;
  private readonly cancellations = new Set<Promise<void>>();
  private readonly counted?: Counter<'flow' | 'outcome' | 'reason'>;

  constructor(
    readonly policies: PolicySet,
    private readonly recorder: DecisionRecorderPort,
    private readonly profiles: ProfileSourcePort | null,
    private readonly promos: PromoActivationPort | null,
    options: DecisionEngineOptions = {},
  ) {
    this.promoLimiter = new ConcurrencyLimiter(options.promoConcurrency ?? 32);
    this.profileConcurrency = options.profileConcurrency ?? 4;
    this.cancellationTimeoutMs = options.cancellationTimeoutMs ?? 30_000;
    this.counted =
      options.registry &&
      counter(options.registry, {
        name: 'decisions_total',
        help: 'Decisions made, by flow, outcome and first reason (NONE for approvals)',
        labelNames: ['flow', 'outcome', 'reason'],
      });
  }

  private count(decisions: readonly Decision[]): void {
    for (const decision of decisions) {
      this.counted?.inc({
        flow: decision.flow,
        outcome: decision.allowed ? 'approved' : 'denied',
        reason: decision.reasons[0]?.code ?? 'NONE',
      });
    }
  }

  async decide(request: DecisionBatchRequest): Promise<DecisionBatchResult> {
    const startedAt = request.startedAt ?? Date.now();
    if (request.customers.length === 0) {
      return { decisions: [], recorded: true };
    }
    const deadlineCode: ReasonCode = request.flow === 'triggered' ? 'TIMEOUT' : 'DEADLINE_EXCEEDED';
    const limit = this.limitChecks(request);
    const activatedKeys: string[] = [];

    let decisions: Decision[];
    try {
      const items = request.customers.map((customer) => this.prepare(request, customer));
      this.applyVisitorRule(items);
      await this.applyCompliance(items, limit.signal, deadlineCode, request.profileLookUps);
      await this.activatePromos(request, items, limit.signal, deadlineCode, activatedKeys);
      decisions = items.map((item) => this.toDecision(request, item, startedAt));
    } catch (error) {
      this.logger.error(`decision engine failed; denying ${request.customers.length} customer(s)`, error);
      this.revokeKeys(activatedKeys);
      decisions = request.customers.map((customer) =>
        this.toDecision(request, this.internalFailure(request, customer, error), startedAt),
      );
    } finally {
      limit.release();
    }

    try {
      await (request.recorder ?? this.recorder).record(decisions);
    } catch (error) {
      const message = `decision could not be recorded: ${describeError(error)}`;
      this.logger.warn(`${message}; denying ${decisions.length} customer(s)`);
      // A recorder that hands the work to another owner (who decides again with the same idempotency keys) says so:
      // cancelling here would race that owner's replayed activations.
      if ((error as { keepsActivations?: unknown } | null)?.keepsActivations !== true) {
        this.revokeActivations(decisions);
      }

      return {
        decisions: decisions.map((decision) => ({
          ...decision,
          allowed: false,
          reasons: [{ code: 'AUDIT_UNAVAILABLE', message }, ...decision.reasons],
        })),
        recorded: false,
        error: message,
      };
    }

    this.count(decisions);

    return { decisions, recorded: true };
  }

  /**
   * The signal every check of a call listens to, aborted at the deadline or when the caller's signal aborts; `release`
   * drops the timer and the listener once the checks are done. The caller's own signal when it says it covers the
   * deadline (and the deadline is still ahead).
   */
  private limitChecks(request: DecisionBatchRequest): { signal: AbortSignal; release: () => void } {
    const remaining = request.deadline - Date.now();
    const callerSignal = request.signal;
    if (request.signalCoversDeadline === true && callerSignal !== undefined && remaining > 0) {
      return { signal: callerSignal, release: () => undefined };
    }
    const control = new AbortController();
    // Every profile look-up and activation of the batch listens to this one signal: a slice of 1,000 customers
    // legitimately adds a thousand listeners, which Node would otherwise report as a leak. One customer with a few
    // promo codes adds a few (and the call costs a request of the gateway about a microsecond).
    if (request.customers.length > 1 || (request.customers[0].promoCodes ?? request.promoCodes ?? []).length > 3) {
      setMaxListeners(0, control.signal);
    }
    const timer = remaining > 0 ? setTimeout(() => control.abort(new Error('deadline passed')), remaining) : undefined;
    if (remaining <= 0) {
      control.abort(new Error('deadline passed'));
    }
    const onAbort = (): void => control.abort(callerSignal?.reason);
    callerSignal?.addEventListener('abort', onAbort, { once: true });
    if (callerSignal?.aborted) {
      onAbort();
    }

    return {
      signal: control.signal,
      release: () => {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onAbort);
      },
    };
  }

  /**
   * Starts the profile look-up that deciding `customer` of `request` will need, so that a caller can run it while it
   * does something else first (the gateway looks for an earlier answer meanwhile); pass the result in
   * `profileLookUps`. Null when the decision needs no profile. The promise may reject, as the look-up would.
   */
  startProfileLookUp(
    request: Omit<DecisionBatchRequest, 'customers' | 'deadline'>,
    customer: CustomerToDecide,
    signal: AbortSignal,
  ): Promise<Profile | null> | null {
    const profiles = this.profiles;
    if (profiles === null || customer.isVisitor) {
      return null;
    }
    const policy = this.prepare(request, customer).policy;
    if (!policy.rules.needsProfile) {
      return null;
    }
    const lookUp = profiles.fetchProfile(customer.customerId, { signal });
    // Whoever asks later handles the failure; an unused look-up must not become an unhandled rejection.
    lookUp.catch(() => undefined);

    return lookUp;
  }

  /**
   * The activations that deciding `customer` of `request` asks for if every earlier check passes, in the order the
   * promo check asks them; empty when the decision activates nothing whatever the checks say. For a caller that
   * reserves them ahead (the gateway does, in its look-up of an earlier answer).
   */
  plannedActivations(
    request: Omit<DecisionBatchRequest, 'customers' | 'deadline'>,
    customer: CustomerToDecide,
  ): ActivationRequest[] {
    if (this.promos === null || customer.isVisitor) {
      return [];
    }
    const item = this.prepare(request, customer);

    return this.promoSkipReason(item) === null ? this.activationRequests(request, item) : [];
  }

  /**
   * Cancels, in the background, every activation a decision's promo check made or may have made: for callers that
   * end up not approving (for example, a gateway whose answer was already late). Never throws.
   */
  revokeActivations(decisions: readonly Decision[]): void {
    const keys: string[] = [];
    for (const decision of decisions) {
      for (const check of decision.checks) {
        if (check.name === 'promo' && check.idempotencyKeys) {
          keys.push(...check.idempotencyKeys);
        }
      }
    }
    this.revokeKeys(keys);
  }

  /** Waits for the background cancellations to finish. */
  async drain(): Promise<void> {
    while (this.cancellations.size > 0) {
      await Promise.allSettled([...this.cancellations]);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private prepare(request: Omit<DecisionBatchRequest, 'customers' | 'deadline'>, customer: CustomerToDecide): WorkItem {
    const actionId = customer.actionId ?? request.actionId ?? null;
    const promoCodes = uniqueCodes(customer.promoCodes ?? request.promoCodes);
    const policy =
      request.policy ??
      this.policies.select({
        campaignId: request.campaignId,
        actionId,
        seriesId: request.seriesId ?? null,
        tags: request.tags,
        promoCodes,
      });

    return { customer, policy, actionId, promoCodes, reasons: [], checks: [], settled: false };
  }

  private applyVisitorRule(items: WorkItem[]): void {
    for (const item of items) {
      if (!item.customer.isVisitor) {
        continue;
      }
      const violation = evaluateVisitor(true, item.policy.allowVisitors);
      if (violation) {
        item.reasons.push(violation);
        item.checks.push({ name: 'visitor', outcome: 'fail', durationMs: 0, codes: [violation.code] });
      } else {
        item.checks.push({ name: 'visitor', outcome: 'pass', durationMs: 0 });
        item.checks.push({ name: 'compliance', outcome: 'skipped', durationMs: 0, detail: 'visitor: no profile' });
      }
      // Visitors have no account: neither profile rules nor promo activation apply to them.
      item.settled = true;
    }
  }

  private async applyCompliance(
    items: WorkItem[],
    signal: AbortSignal,
    deadlineCode: ReasonCode,
    started?: ReadonlyMap<string, Promise<Profile | null>>,
  ): Promise<void> {
    const needProfile: WorkItem[] = [];
    for (const item of items) {
      if (item.settled) {
        continue;
      }
      if (item.policy.rules.needsProfile) {
        needProfile.push(item);
      } else {
        item.checks.push({ name: 'compliance', outcome: 'skipped', durationMs: 0, detail: 'no compliance rule' });
      }
    }
    if (needProfile.length === 0) {
      return;
    }
    const profiles = this.profiles;
    if (profiles === null) {
      this.failProfiles(needProfile, 'PROFILE_UNAVAILABLE', 'error', 'no profile source is configured', 0);

      return;
    }

    if (needProfile.length === 1) {
      const item = needProfile[0];
      await this.lookUp([item], signal, deadlineCode, async () => {
        const customerId = item.customer.customerId;
        const early = started?.get(customerId);
        const profile = await (early ? untilAborted(early, signal) : profiles.fetchProfile(customerId, { signal }));

        return profile === null ? new Map<string, Profile>() : new Map([[customerId, profile]]);
      });

      return;
    }
    const chunks: WorkItem[][] = [];
    for (let start = 0; start < needProfile.length; start += PROFILE_BATCH_LIMIT) {
      chunks.push(needProfile.slice(start, start + PROFILE_BATCH_LIMIT));
    }
    const limiter = new ConcurrencyLimiter(this.profileConcurrency);
    await Promise.all(
      chunks.map((chunk) =>
        limiter.run(() =>
          this.lookUp(chunk, signal, deadlineCode, () =>
            profiles.fetchProfiles(
              chunk.map((item) => item.customer.customerId),
              { signal },
            ),
          ),
        ),
      ),
    );
  }

  /** Fetches the profiles of a chunk and applies the rules; a failed look-up denies the whole chunk. */
  private async lookUp(
    chunk: WorkItem[],
    signal: AbortSignal,
    deadlineCode: ReasonCode,
    fetch: () => Promise<Map<string, Profile>>,
  ): Promise<void> {
    if (signal.aborted) {
      this.failProfiles(chunk, deadlineCode, 'timeout', 'no time left to look up the profile', 0);

      return;
    }
    const started = performance.now();
    let found: Map<string, Profile>;
    try {
      found = await fetch();
    } catch (error) {
      const durationMs = round(performance.now() - started);
      if (signal.aborted) {
        this.failProfiles(chunk, deadlineCode, 'timeout', 'the profile look-up did not finish in time', durationMs);
      } else {
        this.logger.warn(`profile look-up failed for ${chunk.length} customer(s): ${describeError(error)}`);
        this.failProfiles(chunk, 'PROFILE_UNAVAILABLE', 'error', describeError(error), durationMs);
      }

      return;
    }
    const lookupMs = round(performance.now() - started);

    for (const item of chunk) {
      const profile = found.get(item.customer.customerId);
      if (profile === undefined) {
        const reason: Reason = { code: 'PROFILE_NOT_FOUND', message: 'the profile source does not know the customer' };
        item.reasons.push(reason);
        item.checks.push({ name: 'profile', outcome: 'fail', durationMs: lookupMs, codes: [reason.code] });
        item.settled = true;
        continue;
      }
      item.checks.push({ name: 'profile', outcome: 'pass', durationMs: lookupMs });
      const evaluationStarted = performance.now();
      const violations = evaluateCompliance(profile, item.policy.rules);
      const durationMs = round(performance.now() - evaluationStarted);
      if (violations.length === 0) {
        item.checks.push({ name: 'compliance', outcome: 'pass', durationMs });
      } else {
        item.reasons.push(...violations);
        item.checks.push({
          name: 'compliance',
          outcome: 'fail',
          durationMs,
          codes: violations.map((violation) => violation.code),
        });
        item.settled = true;
      }
    }
  }

  private failProfiles(
    items: WorkItem[],
    code: ReasonCode,
    outcome: CheckResult,
    message: string,
    durationMs: number,
  ): void {
    for (const item of items) {
      item.reasons.push({ code, message });
      item.checks.push({ name: 'profile', outcome, durationMs, codes: [code] });
      item.settled = true;
    }
  }

  private async activatePromos(
    request: DecisionBatchRequest,
    items: WorkItem[],
    signal: AbortSignal,
    deadlineCode: ReasonCode,
    activatedKeys: string[],
  ): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const item of items) {
      const skip = this.promoSkipReason(item);
      if (skip !== null) {
        item.checks.push({ name: 'promo', outcome: 'skipped', durationMs: 0, detail: skip });
        continue;
      }
      if (item.promoCodes.length === 0) {
        const reason: Reason = {
          code: 'PROMO_REJECTED',
          message: 'the policy requires a promo code and none is given',
        };
        item.reasons.push(reason);
        item.checks.push({ name: 'promo', outcome: 'fail', durationMs: 0, codes: [reason.code] });
        continue;
      }
      const promos = this.promos;
      if (promos === null) {
        const reason: Reason = { code: 'PROMO_UNAVAILABLE', message: 'no promo system is configured' };
        item.reasons.push(reason);
        item.checks.push({ name: 'promo', outcome: 'error', durationMs: 0, codes: [reason.code] });
        continue;
      }
      pending.push(this.activateFor(request, item, promos, signal, deadlineCode, activatedKeys));
    }
    await Promise.all(pending);
  }

  private promoSkipReason(item: WorkItem): string | null {
    if (item.settled || item.reasons.length > 0) {
      return 'not reached: an earlier check denied the customer';
    }
    if (item.policy.mode === 'shadow') {
      return 'shadow mode: nothing is activated';
    }
    if (item.policy.promo === 'never') {
      return 'the policy activates no promo';
    }
    if (item.policy.promo === 'whenPromoCode' && item.promoCodes.length === 0) {
      return 'no promo code';
    }

    return null;
  }

  private async activateFor(
    request: DecisionBatchRequest,
    item: WorkItem,
    promos: PromoActivationPort,
    signal: AbortSignal,
    deadlineCode: ReasonCode,
    activatedKeys: string[],
  ): Promise<void> {
    const activations = this.activationRequests(request, item);
    const keys = activations.map((activation) => activation.idempotencyKey);
    // The promo system gets a little less than the whole budget, so that a slow or failing promo system is told
    // apart (PROMO_UNAVAILABLE) from a budget that ran out (the deadline's code).
    const reserveMs = Math.min(50, Math.max(0, Math.floor((request.deadline - Date.now()) / 10)));
    const deadline = request.deadline - reserveMs;
    const started = performance.now();
    const results: ActivationResult[] = await Promise.all(
      activations.map((activation) =>
        this.promoLimiter.run(() =>
          // A queued activation whose time ran out while it waited for a slot never starts.
          signal.aborted || Date.now() >= deadline
            ? Promise.resolve<ActivationResult>({
                status: 'unavailable',
                error: 'no time left to start',
                attempts: 0,
                ranOutOfTime: true,
              })
            : promos.activate(activation, { deadline, signal }),
        ),
      ),
    );
    const durationMs = round(performance.now() - started);
    keys.forEach((key, index) => {
      if (results[index].status === 'activated') {
        activatedKeys.push(key);
      }
    });

    const rejected = results.find((result) => result.status === 'rejected');
    const unavailable = results.find((result) => result.status === 'unavailable');
    if (rejected === undefined && unavailable === undefined) {
      item.checks.push({ name: 'promo', outcome: 'pass', durationMs, idempotencyKeys: keys });

      return;
    }
    let reason: Reason;
    let outcome: CheckResult;
    if (rejected !== undefined) {
      reason = { code: 'PROMO_REJECTED', message: `the promo system rejected the activation: ${rejected.reason}` };
      outcome = 'fail';
    } else if (signal.aborted && !results.some((result) => result.status === 'unavailable' && !result.ranOutOfTime)) {
      // Time ended the check; a promo system that refused an attempt outright is the reason even past the deadline.
      reason = { code: deadlineCode, message: 'the promo activation did not finish in time' };
      outcome = 'timeout';
    } else {
      reason = {
        code: 'PROMO_UNAVAILABLE',
        message: `the promo system is unavailable: ${unavailable?.status === 'unavailable' ? unavailable.error : ''}`,
      };
      outcome = 'error';
    }
    item.reasons.push(reason);
    item.checks.push({ name: 'promo', outcome, durationMs, codes: [reason.code], idempotencyKeys: keys });
    // The customer is denied: undo what was activated, and what may still land late.
    this.revokeKeys(keys.filter((_key, index) => results[index].status !== 'rejected'));
  }

  /** One activation per distinct promo code of the item, keyed for its campaign occurrence and customer. */
  private activationRequests(
    request: Omit<DecisionBatchRequest, 'customers' | 'deadline'>,
    item: WorkItem,
  ): ActivationRequest[] {
    const customerId = item.customer.customerId;

    return item.promoCodes.map((promoCode) => ({
      idempotencyKey: activationIdempotencyKey({
        campaignId: request.campaignId,
        occurrence: request.occurrence,
        customerId,
        promoCode,
      }),
      campaignId: request.campaignId,
      occurrence: request.occurrence,
      customerId,
      promoCode,
      flow: request.flow,
    }));
  }

  private internalFailure(request: DecisionBatchRequest, customer: CustomerToDecide, error: unknown): WorkItem {
    const item = this.prepare(request, customer);
    item.reasons.push({ code: 'INTERNAL_ERROR', message: `the decision could not be made: ${describeError(error)}` });
    item.checks.push({ name: 'engine', outcome: 'error', durationMs: 0, codes: ['INTERNAL_ERROR'] });

    return item;
  }

  private toDecision(request: DecisionBatchRequest, item: WorkItem, startedAt: number): Decision {
    const now = Date.now();
    const failedHard = item.reasons.some((reason) => reason.code === 'INTERNAL_ERROR');

    return {
      id: randomUUID(),
      flow: request.flow,
      campaignId: request.campaignId,
      actionId: item.actionId,
      seriesId: request.seriesId ?? null,
      clearanceId: request.clearanceId ?? null,
      customerId: item.customer.customerId,
      isVisitor: item.customer.isVisitor ?? false,
      allowed: !failedHard && (item.policy.mode === 'shadow' || item.reasons.length === 0),
      mode: item.policy.mode,
      policy: item.policy.name,
      reasons: item.reasons,
      checks: item.checks,
      decidedAt: new Date(now).toISOString(),
      latencyMs: Math.max(0, now - startedAt),
      reportedAt: null,
    };
  }

  private revokeKeys(keys: readonly string[]): void {
    const promos = this.promos;
    if (promos === null || keys.length === 0) {
      return;
    }
    const deadline = Date.now() + this.cancellationTimeoutMs;
    for (const key of keys) {
      const cancellation = promos
        .cancel(key, { deadline })
        .then((result) => {
          if (result.status === 'unavailable') {
            this.logger.warn(`an activation could not be cancelled yet (${result.error}); it stays marked for it`);
          }
        })
        .catch((error: unknown) => this.logger.error(`cancelling an activation failed: ${describeError(error)}`))
        .finally(() => this.cancellations.delete(cancellation));
      this.cancellations.add(cancellation);
    }
  }
}
