/** The Optimove calls this client makes; the `call` label of errors, logs and metrics. */
export type OptimoveCall =
  | 'registerEventListener'
  | 'unregisterEventListener'
  | 'getRegisteredEventListeners'
  | 'setTriggeredGateway'
  | 'getProcessedCampaignCustomers'
  | 'updateCustomerPromotionStatus';

const BODY_IN_MESSAGE_LIMIT = 300;

/** What Optimove answered, shortened for a message: bare JSON strings unquoted, objects as JSON. */
export function describeBody(body: unknown): string {
  if (body === undefined || body === null || body === '') {
    return 'an empty body';
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);

  return text.length > BODY_IN_MESSAGE_LIMIT ? `${text.slice(0, BODY_IN_MESSAGE_LIMIT)}…` : text;
}

/**
 * Base of every fault of an Optimove call. `retryable` says whether the same request may succeed later (the client
 * has already retried it as far as its policy and the call's deadline allowed); `attempts` how many were made.
 */
export abstract class OptimoveError extends Error {
  abstract readonly code: string;
  /** HTTP requests made for this call before it failed. */
  attempts = 1;

  protected constructor(
    message: string,
    readonly call: OptimoveCall,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Optimove answered with an error status (or, for calls that expect no body, a 2xx carrying a bare JSON string,
 * which is how its classic endpoints report errors). `body` is what it answered: the parsed JSON (often a bare
 * string such as `"Unauthorized"`, or `{status, error, message}` with 429), the raw text if not JSON, or undefined.
 */
export class OptimoveApiError extends OptimoveError {
  readonly code = 'OPTIMOVE_API_ERROR';

  constructor(
    call: OptimoveCall,
    readonly status: number,
    readonly body: unknown,
    retryable: boolean,
    /** Delay asked for by a `Retry-After` header, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(`Optimove ${call} failed with HTTP ${status}: ${describeBody(body)}`, call, retryable);
  }
}

/** Which time limit ran out: one request's connect/headers/body timeout, or the whole call's deadline. */
export type OptimoveTimeoutPhase = 'connect' | 'headers' | 'body' | 'deadline';

/** A request or the whole call (retries included) ran out of time. */
export class OptimoveTimeoutError extends OptimoveError {
  readonly code = 'OPTIMOVE_TIMEOUT';

  constructor(
    call: OptimoveCall,
    readonly phase: OptimoveTimeoutPhase,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      phase === 'deadline'
        ? `Optimove ${call} did not finish within its ${timeoutMs} ms deadline`
        : `Optimove ${call} timed out waiting for the ${phase} (${timeoutMs} ms)`,
      call,
      phase !== 'deadline',
      options,
    );
  }
}

/** The connection failed or broke (refused, reset, DNS, TLS) before a complete answer arrived. */
export class OptimoveNetworkError extends OptimoveError {
  readonly code = 'OPTIMOVE_NETWORK_ERROR';

  constructor(
    call: OptimoveCall,
    /** The system or undici error code, e.g. `ECONNREFUSED`, `UND_ERR_SOCKET`. */
    readonly networkCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`Optimove ${call} failed on the network (${networkCode ?? 'unknown error'})`, call, true, options);
  }
}

/** A 2xx answer whose body is not what the call expects (e.g. a page that is not JSON or not a list). */
export class OptimoveResponseError extends OptimoveError {
  readonly code = 'OPTIMOVE_MALFORMED_RESPONSE';

  constructor(
    call: OptimoveCall,
    readonly status: number,
    readonly body: unknown,
    reason: string,
  ) {
    super(
      `Optimove ${call} answered HTTP ${status} with an unusable body (${reason}): ${describeBody(body)}`,
      call,
      true,
    );
  }
}

/** The caller's `AbortSignal` cancelled the call. */
export class OptimoveAbortedError extends OptimoveError {
  readonly code = 'OPTIMOVE_ABORTED';

  constructor(call: OptimoveCall, options?: { cause?: unknown }) {
    super(`Optimove ${call} was aborted by the caller`, call, false, options);
  }
}
