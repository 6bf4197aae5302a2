import type { Dispatcher } from 'undici';

/** The answer of {@link exchangeText}. */
export interface TextAnswer {
  statusCode: number;
  text: string;
}

/** Why {@link exchangeText} gave up: the caller's signal, or its own time limit. */
export class ExchangeAbortedError extends Error {
  constructor(
    readonly timedOut: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ExchangeAbortedError';
  }
}

/** Largest answer {@link exchangeText} reads by default; a larger one fails the exchange. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** A leading byte-order mark, which a JSON parser would refuse. */
const BYTE_ORDER_MARK = '\uFEFF';

/**
 * One HTTP request over `dispatcher` whose answer is read whole as UTF-8 text (a leading byte-order mark dropped). It
 * settles at once when `signal` aborts or `timeoutMs` pass (an {@link ExchangeAbortedError}, whose cause is the
 * signal's reason), and the request is then aborted on its connection. An answer of more than `maxBytes` fails it
 * the same way, so that a misbehaving peer cannot fill the memory.
 *
 * It is `dispatcher.request()` without the per-request streams: `request` wraps every answer in a Readable and
 * listens on the signal through an extra AbortController, which on a hot path costs more than the whole exchange
 * does here (measured about 15 µs a call, a third of the client's CPU).
 */
export function exchangeText(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  maxBytes = MAX_ANSWER_BYTES,
): Promise<TextAnswer> {
  return new Promise<TextAnswer>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ExchangeAbortedError(false, 'aborted before the request was sent', { cause: signal.reason }));

      return;
    }
    new TextExchange(resolve, reject, signal, timeoutMs, maxBytes).start(dispatcher, options);
  });
}

class TextExchange implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private abortedWith: Error | undefined;
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly resolve: (answer: TextAnswer) => void,
    private readonly reject: (error: Error) => void,
    private readonly signal: AbortSignal | undefined,
    timeoutMs: number,
    private readonly maxBytes: number,
  ) {
    this.timer = setTimeout(
      () => this.abort(new ExchangeAbortedError(true, `no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    if (signal !== undefined) {
      this.onAbort = () => this.abort(new ExchangeAbortedError(false, 'aborted', { cause: signal.reason }));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  start(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): void {
    try {
      dispatcher.dispatch(options, this);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortedWith !== undefined) {
      controller.abort(this.abortedWith);
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.statusCode = statusCode;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    if (this.received > this.maxBytes) {
      this.abort(new Error(`the answer is larger than ${this.maxBytes} bytes`));
    } else {
      this.chunks.push(chunk);
    }
  }

  onResponseEnd(): void {
    const whole =
      this.chunks.length === 1 ? this.chunks[0].toString('utf8') : Buffer.concat(this.chunks).toString('utf8');
    const text = whole.startsWith(BYTE_ORDER_MARK) ? whole.slice(1) : whole;
    if (this.finish()) {
      this.resolve({ statusCode: this.statusCode, text });
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private abort(reason: Error): void {
    if (this.settled) {
      return;
    }
    this.abortedWith = reason;
    // Settle now: a request still queued for a connection would otherwise wait for one before it could be aborted.
    this.fail(reason);
    this.controller?.abort(reason);
  }

  private fail(error: Error): void {
    if (this.finish()) {
      this.reject(this.abortedWith ?? error);
    }
  }

  /** True the first time only: clears the timer and the signal's listener. */
  private finish(): boolean {
    if (this.settled) {
      return false;
    }
    this.settled = true;
    clearTimeout(this.timer);
    if (this.onAbort !== undefined) {
      this.signal?.removeEventListener('abort', this.onAbort);
    }

    return true;
  }
}
