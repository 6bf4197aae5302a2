import { CheckOutcome, Decision, DecisionEngine, DecisionRecorderPort, Reason } from '@app/decisions';
import { describeError } from '@app/observability';
import type { ActivationRequest } from '@app/promo-activation';
import { Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { AnswerSlot } from './answer-slot';
import { EarlierAnswer, EarlierAnswers, INVALID_REQUEST_CODE, keyOf } from './earlier-answers.repository';
import { GatewayRequest, InvalidGatewayRequest, parseGatewayRequest } from './gateway-request';
import { GatewayTokenVerifier } from './gateway-token';
import { GatewayMetrics } from './gateway.metrics';

/** The path Optimove calls; the arrival hook and the raw-body parser apply to it alone. */
export const GATEWAY_PATH = '/optimove/triggered';

/** Customer id recorded for a request whose `user.user_id` could not be read. */
export const UNKNOWN_CUSTOMER_ID = '(unreadable)';

/**
 * Name of an optional Fastify decorator, `() => boolean`, that the app sets to say it is draining: the gateway's
 * answers then close their connection, as the app's onSend hook does for every other route.
 */
export const DRAINING_DECORATOR = 'isDraining';

/**
 * Key of a route's Fastify config under which the gateway puts its onRequest hook: an app may call it from a hook of
 * its own that runs before its other hooks (the service's `answerEarly`), which skips every later hook and Nest's
 * middleware. Without such a hook the route's own onRequest hook answers, after the app's hooks and middleware.
 */
export const EARLY_ANSWER = 'answerEarly';

/** Fastify's own default, for an instance that does not say. */
const DEFAULT_BODY_LIMIT = 1_048_576;

/** When a request arrived: taken in the hook that hands the request to the gateway, before the body is read. */
export interface Arrival {
  /** Epoch ms, for deadlines. */
  epoch: number;
  /** Monotonic ms, for the latency metric. */
  perf: number;
}

/** What the route answers. */
export interface GatewayReply {
  status: 200 | 400 | 401 | 413;
  body: Record<string, unknown>;
}

/** Settings of {@link TriggeredGateway}. */
export interface TriggeredGatewaySettings {
  token: string | undefined;
  /** `timeoutMs - marginMs`, or 0 when Optimove's timeout is 0. */
  budgetMs: number;
  commitReserveMs: number;
}

/**
 * The triggered gateway: token, validation, the repeat look-up, the engine raced against the budget, and the
 * answer. See the library README for the budget race and how the audit record is kept equal to the answer.
 */
export class TriggeredGateway implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TriggeredGateway.name);
  private readonly token: GatewayTokenVerifier;
  private readonly inFlight = new Map<string, Promise<EarlierAnswer | null>>();
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    private readonly settings: TriggeredGatewaySettings,
    private readonly engine: DecisionEngine,
    private readonly writer: DecisionRecorderPort,
    private readonly earlier: EarlierAnswers,
    private readonly metrics: GatewayMetrics,
    private readonly adapterHost: HttpAdapterHost | undefined,
  ) {
    this.token = new GatewayTokenVerifier(settings.token);
  }

  onModuleInit(): void {
    if (!this.token.configured) {
      this.logger.warn('GATEWAY_TOKEN is not set: every call to the triggered gateway is answered 401');
    }
    const fastify = this.adapterHost?.httpAdapter?.getInstance<FastifyInstance>();
    if (typeof fastify?.route !== 'function') {
      return;
    }
    this.registerRoute(fastify);
  }

  /**
   * The route is Fastify's own, not a Nest controller: Nest's router, guards, pipes and interceptors cost a request
   * more than the whole validation, and the gateway needs none of them (its one error is an answer it builds itself).
   * It answers from an onRequest hook (see EARLY_ANSWER for where it runs): the reply is hijacked and the body read
   * straight from the socket, which skips Fastify's content-type parsing, hooks and serialisation (measured at about
   * 60 µs a request on Node 20, most of it in an AsyncResource per body).
   */
  private registerRoute(fastify: FastifyInstance): void {
    const bodyLimit = fastify.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT;
    // An onRequest hook, the route's own or the app's first (EARLY_ANSWER): once the reply is hijacked, done() ends
    // the request's hooks.
    const accept = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
      const arrival: Arrival = { epoch: Date.now(), perf: performance.now() };
      reply.hijack();
      done();
      this.serve(request, reply, arrival, bodyLimit);
    };
    fastify.route({
      method: 'POST',
      url: GATEWAY_PATH,
      config: { [EARLY_ANSWER]: accept },
      onRequest: accept,
      handler: () => {
        throw new Error('the triggered gateway answers from its onRequest hook');
      },
    });
  }

  /** Reads the body (at most `bodyLimit` bytes), decides and writes the answer on the raw response. */
  private serve(request: FastifyRequest, reply: FastifyReply, arrival: Arrival, bodyLimit: number): void {
    const raw = request.raw;
    const token = (request.query as { token?: unknown } | undefined)?.token;
    const send = (answer: GatewayReply, close = false): void => {
      const payload = JSON.stringify(answer.body);
      const response = reply.raw;
      // Headers the app's hooks put on the reply (the request id); while draining, the connection closes.
      const headers = reply.getHeaders();
      for (const name of Object.keys(headers)) {
        const value = headers[name];
        if (value !== undefined) {
          response.setHeader(name, value);
        }
      }
      response.setHeader('content-type', 'application/json; charset=utf-8');
      response.setHeader('content-length', Buffer.byteLength(payload));
      const draining: unknown = (request.server as unknown as Record<string, unknown>)[DRAINING_DECORATOR];
      if (close || (typeof draining === 'function' && (draining as () => unknown)() === true)) {
        response.setHeader('connection', 'close');
      }
      response.writeHead(answer.status);
      response.end(payload);
    };
    const answer = (body: string): void => {
      this.handle(token, body, arrival).then(send, (error: unknown) => {
        this.logger.error(`the gateway could not answer a request: ${describeError(error)}`);
        send({ status: 200, body: { user_id: null, allowed: false } });
      });
    };
    const tooLarge = (): void => {
      raw.removeAllListeners('data');
      raw.removeAllListeners('end');
      // The rest of the body is not read: the connection closes after the answer.
      send(this.answerTooLarge(token, bodyLimit, arrival), true);
    };

    if (Number(raw.headers['content-length'] ?? 0) > bodyLimit) {
      tooLarge();

      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    raw.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bodyLimit) {
        tooLarge();
      } else {
        chunks.push(chunk);
      }
    });
    raw.on('end', () =>
      answer(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    // A client that goes away mid-body sent no request to answer; the socket's own handling closes it.
    raw.on('error', () => undefined);
  }

  /** Waits for background recording (late decisions, superseding records) on shutdown. */
  async onApplicationShutdown(): Promise<void> {
    while (this.background.size > 0) {
      await Promise.allSettled([...this.background]);
    }
  }

  async handle(token: unknown, body: string, arrival: Arrival): Promise<GatewayReply> {
    if (!this.token.verify(token)) {
      return this.unauthorized();
    }

    const payload = parseJson(body);
    const parsed =
      payload === undefined
        ? { ok: false as const, error: 'the body is not valid JSON' }
        : parseGatewayRequest(payload.value);
    if (!parsed.ok) {
      return this.answerInvalid(parsed, arrival);
    }

    const request = parsed.request;
    const cutoff = arrival.epoch + this.settings.budgetMs;
    // The checks end early enough to leave time for committing an approval.
    const slot = new AnswerSlot(
      cutoff,
      cutoff - Math.min(this.settings.commitReserveMs, Math.floor(this.settings.budgetMs / 2)),
    );
    if (request.promoCodes.length > 3) {
      // Each activation listens to the slot's signal (see DecisionEngine.limitChecks).
      setMaxListeners(0, slot.control.signal);
    }
    slot.start();
    this.track(
      this.run(request, arrival, slot).catch((error: unknown) => {
        this.logger.error(`the gateway could not finish a decision: ${describeError(error)}`);
        slot.settle({ allowed: false, reason: 'INTERNAL_ERROR' });
      }),
    );
    const outcome = await slot.answer;
    slot.stop();
    this.metrics.answered(outcome.allowed ? 'allowed' : 'denied', outcome.reason, performance.now() - arrival.perf);

    return { status: 200, body: { user_id: request.userIdAsSent, allowed: outcome.allowed } };
  }

  /** Decides one request; the answer is settled through the slot, whatever happens. */
  private async run(request: GatewayRequest, arrival: Arrival, slot: AnswerSlot): Promise<void> {
    const key = keyOf(request.campaignId, request.userId);
    const first = this.inFlight.get(key);
    let committed: (answer: EarlierAnswer | null) => void = () => undefined;
    if (first === undefined) {
      this.inFlight.set(key, new Promise<EarlierAnswer | null>((resolve) => (committed = resolve)));
    }
    let answer: EarlierAnswer | null = null;
    let reserved: ActivationRequest[] = [];
    try {
      const batch = {
        flow: 'triggered' as const,
        campaignId: request.campaignId,
        // Optimove's campaign id names one executed occurrence of a campaign series.
        occurrence: request.campaignId,
        actionId: request.actionId,
        seriesId: request.seriesId,
        tags: request.tags,
        promoCodes: request.promoCodes,
      };
      const customer = { customerId: request.userId, isVisitor: request.isVisitor };
      // The profile is fetched while the earlier answer is looked up, and the statement that looks it up also
      // begins the activations the decision will ask for if the checks pass: a repeat merely leaves both unused.
      const profile = first === undefined ? this.engine.startProfileLookUp(batch, customer, slot.control.signal) : null;
      reserved = first === undefined ? this.engine.plannedActivations(batch, customer) : [];
      const earlier = first !== undefined ? await first : await this.findEarlier(request, reserved);
      if (earlier !== null) {
        answer = await this.recordFor(slot, this.repeatOf(request, earlier, arrival));

        return;
      }
      const recorder: DecisionRecorderPort = {
        record: async (decisions) => {
          answer = await this.recordFor(slot, decisions[0]);
        },
      };
      const result = await this.engine.decide({
        ...batch,
        customers: [customer],
        deadline: slot.checksEnd,
        signal: slot.control.signal,
        signalCoversDeadline: true,
        startedAt: arrival.epoch,
        recorder,
        profileLookUps: profile === null ? undefined : new Map([[request.userId, profile]]),
      });
      if (!result.recorded) {
        slot.settle({ allowed: false, reason: 'AUDIT_UNAVAILABLE' });
      }
    } finally {
      this.earlier.release(reserved);
      if (first === undefined) {
        this.inFlight.delete(key);
        committed(answer);
      }
    }
  }

  private async findEarlier(
    request: GatewayRequest,
    activations: readonly ActivationRequest[],
  ): Promise<EarlierAnswer | null> {
    try {
      return await this.earlier.find(request.campaignId, request.userId, activations);
    } catch (error) {
      // The activation's idempotency key still prevents a second activation; only the repeat answer is lost.
      this.logger.warn(`could not look up an earlier decision: ${describeError(error)}`);

      return null;
    }
  }

  /**
   * Records a request's decision so that the record says what the answer said, and settles the answer:
   * - the budget already answered `false` (TIMEOUT): the decision is recorded as a TIMEOUT denial and any activation
   *   it made is cancelled;
   * - a denial: answered at once, recorded meanwhile;
   * - an approval: committed first, answered `true` only once committed and only while the budget lasts. Too
   *   little time left to commit: a TIMEOUT denial instead. If the budget ends while the commit is in flight, the
   *   answer is `false`; should the approval then commit, a superseding TIMEOUT record follows and the activation is
   *   cancelled (see the README: the only case of two records for one request).
   * Resolves with the answer now committed for the request; rejects when the record could not be written.
   */
  private async recordFor(slot: AnswerSlot, decision: Decision): Promise<EarlierAnswer> {
    if (slot.expiredFirst) {
      const denied = this.asTimeout(decision, 'the budget ran out before the decision was made; answered false');
      if (decision.allowed) {
        this.engine.revokeActivations([decision]);
      }
      await this.writer.record([denied]);

      return this.committed(denied);
    }
    if (!decision.allowed) {
      slot.settle({ allowed: false, reason: decision.reasons[0]?.code ?? 'DENIED' });
      await this.writer.record([decision]);

      return this.committed(decision);
    }
    if (slot.cutoff - Date.now() < this.settings.commitReserveMs / 2 || slot.isSettled) {
      const denied = this.asTimeout(decision, 'too little of the budget was left to commit the approval');
      this.engine.revokeActivations([decision]);
      slot.settle({ allowed: false, reason: 'TIMEOUT' });
      await this.writer.record([denied]);

      return this.committed(denied);
    }

    try {
      await this.writer.record([decision]);
    } catch (error) {
      slot.settle({ allowed: false, reason: 'AUDIT_UNAVAILABLE' });
      throw error;
    }
    if (slot.settle({ allowed: true, reason: 'NONE' })) {
      return this.committed(decision);
    }

    this.metrics.lateApproval();
    this.logger.warn('an approval committed after the budget had answered false; recording a superseding denial');
    this.engine.revokeActivations([decision]);
    const superseding = this.asTimeout(
      { ...decision, id: randomUUID() },
      `approval ${decision.id} committed after the answer false had left; this record supersedes it`,
    );
    await this.writer.record([superseding]);

    return this.committed(superseding);
  }

  private committed(decision: Decision): EarlierAnswer {
    const answer: EarlierAnswer = {
      decisionId: decision.id,
      allowed: decision.allowed,
      policy: decision.policy,
      reasons: decision.reasons,
    };
    if (decision.campaignId !== null) {
      this.earlier.remember(decision.campaignId, decision.customerId, answer);
    }

    return answer;
  }

  private asTimeout(decision: Decision, message: string): Decision {
    const now = Date.now();
    const startedAt = Date.parse(decision.decidedAt) - decision.latencyMs;
    const check: CheckOutcome = {
      name: 'engine',
      outcome: 'timeout',
      durationMs: 0,
      codes: ['TIMEOUT'],
      detail: message,
    };
    const timeout: Reason = { code: 'TIMEOUT', message };

    return {
      ...decision,
      allowed: false,
      reasons: [timeout, ...decision.reasons.filter((reason) => reason.code !== 'TIMEOUT')],
      checks: [...decision.checks, check],
      decidedAt: new Date(now).toISOString(),
      latencyMs: Math.max(0, now - startedAt),
    };
  }

  /** The record of a repeated request: the earlier committed answer again, nothing checked or activated. */
  private repeatOf(request: GatewayRequest, earlier: EarlierAnswer, arrival: Arrival): Decision {
    const now = Date.now();

    return {
      ...this.baseDecision(request.userId, request, arrival, now),
      allowed: earlier.allowed,
      policy: earlier.policy,
      reasons: earlier.reasons,
      checks: [
        {
          name: 'engine',
          outcome: 'skipped',
          durationMs: 0,
          detail: `repeat of decision ${earlier.decisionId}: the same answer again, nothing checked or activated`,
        },
      ],
    };
  }

  private baseDecision(
    customerId: string,
    request: Partial<Pick<GatewayRequest, 'campaignId' | 'actionId' | 'seriesId' | 'isVisitor'>>,
    arrival: Arrival,
    now: number,
  ): Decision {
    return {
      id: randomUUID(),
      flow: 'triggered',
      campaignId: request.campaignId ?? null,
      actionId: request.actionId ?? null,
      seriesId: request.seriesId ?? null,
      clearanceId: null,
      customerId,
      isVisitor: request.isVisitor ?? false,
      allowed: false,
      mode: 'enforce',
      policy: 'none',
      reasons: [],
      checks: [],
      decidedAt: new Date(now).toISOString(),
      latencyMs: Math.max(0, now - arrival.epoch),
      reportedAt: null,
    };
  }

  private unauthorized(): GatewayReply {
    this.metrics.refused();

    return { status: 401, body: { statusCode: 401, error: 'Unauthorized', message: 'wrong or missing token' } };
  }

  /** A body over the limit: 413, recorded like any unreadable request (a wrong token is still a 401 first). */
  private answerTooLarge(token: unknown, bodyLimit: number, arrival: Arrival): GatewayReply {
    if (!this.token.verify(token)) {
      return this.unauthorized();
    }

    return { ...this.answerInvalid({ error: `the body is larger than ${bodyLimit} bytes` }, arrival), status: 413 };
  }

  private answerInvalid(invalid: InvalidGatewayRequest, arrival: Arrival): GatewayReply {
    const userId = invalid.userIdAsSent === undefined ? undefined : String(invalid.userIdAsSent);
    const reason: Reason = { code: INVALID_REQUEST_CODE, message: `invalid request: ${invalid.error}` };
    const decision: Decision = {
      ...this.baseDecision(userId ?? UNKNOWN_CUSTOMER_ID, invalid, arrival, Date.now()),
      policy: 'invalid-request',
      reasons: [reason],
      checks: [{ name: 'engine', outcome: 'fail', durationMs: 0, codes: [reason.code], detail: invalid.error }],
    };
    this.track(
      this.writer
        .record([decision])
        .catch((error: unknown) => this.logger.warn(`could not record an invalid request: ${describeError(error)}`)),
    );
    this.metrics.answered('invalid', INVALID_REQUEST_CODE, performance.now() - arrival.perf);

    return { status: 400, body: { user_id: invalid.userIdAsSent ?? null, allowed: false, error: invalid.error } };
  }

  private track(work: Promise<unknown>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}
