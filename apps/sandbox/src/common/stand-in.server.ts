import { createServer, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import Fastify, { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** How a stand-in misbehaves, switched at run time through `PUT /control/faults`. */
export interface FaultSettings {
  /** Added before every API request is handled, in milliseconds. */
  latencyMs: number;
  /** Fraction (0..1) of API requests answered with `errorStatus` instead. */
  errorRate: number;
  /** Status of the injected errors. */
  errorStatus: number;
  /** 'error' answers 503 to everything; 'blackhole' accepts requests and never answers. */
  outage: false | 'error' | 'blackhole';
}

export function defaultFaults(): FaultSettings {
  return { latencyMs: 0, errorRate: 0, errorStatus: 500, outage: false };
}

export interface StandInOptions {
  /** Builds the body of an error answer in this stand-in's dialect. */
  errorBody: (status: number, message: string) => unknown;
  /** When set, every API request must carry `Authorization: Bearer <token>` (control calls need none). */
  token?: string;
  /** When false the stand-in applies `latencyMs` itself (the promo system does, to keep a key in flight). */
  latencyInHook: boolean;
  rewriteUrl?: (url: string) => string;
}

const CONTROL_PATH = /^\/control(?:[/?]|$)/i;
const BODY_LIMIT = 16 * 1024 * 1024;

/** What a {@link FastRoute} answers. */
export interface FastAnswer {
  status: number;
  body: unknown;
}

/** A handler of the lean lane: the parsed JSON body (undefined when empty) and the headers. */
export type FastRoute = (body: unknown, headers: IncomingHttpHeaders) => FastAnswer | Promise<FastAnswer>;

export function isControlPath(url: string | undefined): boolean {
  return CONTROL_PATH.test(url ?? '');
}

/**
 * One lean Fastify server with the parts every stand-in shares: run-time faults (including a black hole
 * that holds sockets open without answering), tolerant JSON parsing, errors in the stand-in's own dialect,
 * and sleeps that are cancelled when the server stops.
 */
export class StandInServer {
  readonly app: FastifyInstance;
  faults: FaultSettings = defaultFaults();
  private readonly held = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly fastRoutes = new Map<string, FastRoute>();
  private baseUrl = '';

  constructor(private readonly options: StandInOptions) {
    const rewrite = options.rewriteUrl;
    this.app = Fastify({
      logger: false,
      bodyLimit: 16 * 1024 * 1024,
      forceCloseConnections: true,
      routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
      ...(rewrite ? { rewriteUrl: (req: IncomingMessage) => rewrite(req.url ?? '/') } : {}),
      serverFactory: (handler) =>
        createServer((req: IncomingMessage, res: ServerResponse) => {
          if (this.faults.outage === 'blackhole' && !isControlPath(req.url)) {
            this.hold(req);

            return;
          }
          const fast = this.faultsIdle ? this.fastRoutes.get(`${req.method ?? ''} ${req.url ?? ''}`) : undefined;
          if (fast !== undefined) {
            this.serveFast(fast, req, res);

            return;
          }
          handler(req, res);
        }),
    });
    this.installParsers();
    this.installAuth();
    this.installFaultHook();
  }

  /**
   * Serves `method path` (exact, no query string) on plain node:http ahead of Fastify while no fault that a hook
   * would apply is switched on; otherwise, and for every other request, Fastify serves it, so the route must be
   * registered there too with the same handler. For the calls a benchmark makes by the thousand: the stand-in
   * should cost far less than the service it stands in front of.
   */
  addFastRoute(method: 'GET' | 'POST', path: string, route: FastRoute): void {
    this.fastRoutes.set(`${method} ${path}`, route);
  }

  get url(): string {
    return this.baseUrl;
  }

  async listen(host: string, port: number): Promise<string> {
    await this.app.listen({ host, port });
    const address = this.app.server.address() as AddressInfo;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    this.baseUrl = `http://${shownHost}:${address.port}`;

    return this.baseUrl;
  }

  async close(): Promise<void> {
    this.releaseHeld();
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
    await this.app.close();
  }

  /** Drops every connection swallowed by the black hole (their clients see a reset). */
  releaseHeld(): void {
    for (const socket of this.held) {
      socket.destroy();
    }
    this.held.clear();
  }

  /** A sleep that never resolves if the server stops first, so no handler runs against a closed server. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) {
      return Promise.resolve();
    }

    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
    return reply.code(status).send(this.options.errorBody(status, message));
  }

  private get faultsIdle(): boolean {
    const faults = this.faults;

    return faults.outage === false && faults.errorRate === 0 && (faults.latencyMs === 0 || !this.options.latencyInHook);
  }

  private serveFast(route: FastRoute, req: IncomingMessage, res: ServerResponse): void {
    const token = this.options.token;
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      req.resume();
      this.sendFast(res, { status: 401, body: { error: 'unauthorized' } });

      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (size > BODY_LIMIT) {
        this.sendFast(res, { status: 413, body: this.options.errorBody(413, 'Body is too large') });

        return;
      }
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
      } catch {
        this.sendFast(res, { status: 400, body: this.options.errorBody(400, 'Body is not valid JSON') });

        return;
      }
      Promise.resolve()
        .then(() => route(body, req.headers))
        .then(
          (answer) => this.sendFast(res, answer),
          (error: unknown) => {
            const message = error instanceof Error ? error.message : String(error);
            this.sendFast(res, { status: 500, body: this.options.errorBody(500, message) });
          },
        );
    });
  }

  private sendFast(res: ServerResponse, answer: FastAnswer): void {
    const payload = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  }

  private installAuth(): void {
    const token = this.options.token;
    if (!token) {
      return;
    }
    this.app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      if (!isControlPath(req.url) && req.headers.authorization !== `Bearer ${token}`) {
        void reply.code(401).send({ error: 'unauthorized' });

        return;
      }
      done();
    });
  }

  private hold(req: IncomingMessage): void {
    const socket = req.socket;
    this.held.add(socket);
    socket.once('close', () => this.held.delete(socket));
    req.resume();
  }

  private installParsers(): void {
    // Control calls such as `POST /control/campaigns/{id}/notify` often carry no body at all.
    this.app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') {
        done(null, undefined);

        return;
      }
      try {
        done(null, JSON.parse(text));
      } catch {
        const error = new Error('Body is not valid JSON') as FastifyError;
        error.statusCode = 400;
        done(error, undefined);
      }
    });
    this.app.setErrorHandler((error: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
      this.sendError(reply, status, error.message);
    });
    this.app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
      this.sendError(reply, 404, `No route for ${req.method} ${req.url}`);
    });
  }

  private installFaultHook(): void {
    // Callback style with a synchronous fast path: without faults a request costs no extra promise.
    this.app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      const faults = this.faults;
      if (this.faultsIdle || isControlPath(req.url)) {
        done();

        return;
      }
      if (faults.outage === 'error') {
        this.sendError(reply, 503, 'Service Unavailable');

        return;
      }
      const delay = this.options.latencyInHook ? faults.latencyMs : 0;
      void this.sleep(delay).then(() => {
        if (faults.errorRate > 0 && Math.random() < faults.errorRate) {
          this.sendError(reply, faults.errorStatus, 'Injected fault');

          return;
        }
        done();
      });
    });
  }
}

/** Validates a `PUT /control/faults` body onto the current settings; returns an error message or the new settings. */
export function mergeFaults(current: FaultSettings, body: unknown): FaultSettings | string {
  if (!isRecord(body)) {
    return 'Body must be a JSON object';
  }
  const next = { ...current };
  if (body.latencyMs !== undefined) {
    if (typeof body.latencyMs !== 'number' || !(body.latencyMs >= 0)) {
      return 'latencyMs must be a number >= 0';
    }
    next.latencyMs = body.latencyMs;
  }
  if (body.errorRate !== undefined) {
    if (typeof body.errorRate !== 'number' || !(body.errorRate >= 0 && body.errorRate <= 1)) {
      return 'errorRate must be a number from 0 to 1';
    }
    next.errorRate = body.errorRate;
  }
  if (body.errorStatus !== undefined) {
    if (typeof body.errorStatus !== 'number' || !Number.isInteger(body.errorStatus)) {
      return 'errorStatus must be an HTTP status';
    }
    if (body.errorStatus < 400 || body.errorStatus > 599) {
      return 'errorStatus must be from 400 to 599';
    }
    next.errorStatus = body.errorStatus;
  }
  if (body.outage !== undefined) {
    if (body.outage !== false && body.outage !== 'error' && body.outage !== 'blackhole') {
      return "outage must be false, 'error' or 'blackhole'";
    }
    next.outage = body.outage;
  }

  return next;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a key of a JSON object or query string ignoring case, as Optimove's .NET binding does. */
export function getIgnoreCase(source: unknown, ...names: string[]): unknown {
  if (!isRecord(source)) {
    return undefined;
  }
  for (const name of names) {
    if (name in source) {
      return source[name];
    }
  }
  const wanted = new Set(names.map((name) => name.toLowerCase()));
  for (const key of Object.keys(source)) {
    if (wanted.has(key.toLowerCase())) {
      return source[key];
    }
  }

  return undefined;
}
