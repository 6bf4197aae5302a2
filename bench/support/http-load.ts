import { connect, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One answer as the load generator sees it. */
export interface LoadAnswer {
  status: number;
  body: string;
}

interface Waiting {
  resolve: (answer: LoadAnswer) => void;
  reject: (error: Error) => void;
}

const HEAD_END = '\r\n\r\n';
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/**
 * A keep-alive HTTP/1.1 connection that sends one request at a time, written by hand: a closed-loop benchmark on a
 * 2-core machine shares the cores with what it measures, and a general-purpose client spends several times more CPU
 * per request than this. It reads answers framed by Content-Length only, which is what Fastify sends for JSON.
 */
export class LoadConnection {
  private received = '';
  private waiting: Waiting | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the connection closed')));
  }

  static open(port: number, host = '127.0.0.1'): Promise<LoadConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new LoadConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends a JSON POST and resolves with its answer. */
  post(path: string, body: string): Promise<LoadAnswer> {
    if (this.waiting !== null) {
      return Promise.reject(new Error('one request at a time on a connection'));
    }
    const request =
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

    return new Promise<LoadAnswer>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.received += chunk;
    const headEnd = this.received.indexOf(HEAD_END);
    if (headEnd < 0) {
      return;
    }
    const head = this.received.slice(0, headEnd);
    const length = CONTENT_LENGTH.exec(head);
    if (length === null) {
      this.fail(new Error('an answer without Content-Length'));

      return;
    }
    const bodyStart = headEnd + HEAD_END.length;
    const bodyEnd = bodyStart + Number(length[1]);
    if (this.received.length < bodyEnd) {
      return;
    }
    const answer = { status: Number(head.slice(9, 12)), body: this.received.slice(bodyStart, bodyEnd) };
    this.received = this.received.slice(bodyEnd);
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve(answer);
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(error);
  }
}

/** Outcome of {@link closedLoop}. */
export interface ClosedLoopResult {
  /** Answers with status 200 per second. */
  rate: number;
  answered: number;
  /** Requests that failed or were answered with another status. */
  failed: number;
}

/**
 * Closed loop: `connections` connections, each sending its next request as soon as the previous one is answered,
 * for `seconds`. `nextBody` makes each request's body.
 */
export async function closedLoop(
  port: number,
  path: string,
  nextBody: () => string,
  connections: number,
  seconds: number,
): Promise<ClosedLoopResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => LoadConnection.open(port)));
  const until = performance.now() + seconds * 1000;
  let answered = 0;
  let failed = 0;
  const worker = async (connection: LoadConnection): Promise<void> => {
    while (performance.now() < until) {
      try {
        const answer = await connection.post(path, nextBody());
        if (answer.status === 200) {
          answered++;
        } else {
          failed++;
        }
      } catch {
        failed++;

        return;
      }
    }
  };
  const started = performance.now();
  await Promise.all(sockets.map(worker));
  const elapsed = (performance.now() - started) / 1000;
  sockets.forEach((connection) => connection.close());

  return { rate: answered / elapsed, answered, failed };
}

/** One answer of {@link openLoop}, its latency counted from when the request was due. */
export interface OpenLoopSample {
  latencyMs: number;
  /** 0 when the request failed without an answer. */
  status: number;
  body: string;
}

/**
 * Open loop: `rate` requests a second for `seconds`, each sent when it is due whatever the earlier ones are doing,
 * over keep-alive connections that are reused once idle (a new one is opened when none is). Latency is counted
 * from the due time, so a late send by a busy generator counts against the answer rather than hiding.
 */
export async function openLoop(
  port: number,
  path: string,
  nextBody: () => string,
  rate: number,
  seconds: number,
): Promise<OpenLoopSample[]> {
  const idle: LoadConnection[] = [];
  const open = new Set<LoadConnection>();
  const send = async (due: number): Promise<OpenLoopSample> => {
    const body = nextBody();
    try {
      const connection = idle.pop() ?? (await LoadConnection.open(port));
      open.add(connection);
      const answer = await connection.post(path, body);
      idle.push(connection);

      return { latencyMs: performance.now() - due, status: answer.status, body: answer.body };
    } catch {
      return { latencyMs: performance.now() - due, status: 0, body: '' };
    }
  };
  const total = Math.round(rate * seconds);
  const samples: Promise<OpenLoopSample>[] = [];
  const started = performance.now();
  for (let index = 0; index < total; index++) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    samples.push(send(due));
  }
  const results = await Promise.all(samples);
  open.forEach((connection) => connection.close());

  return results;
}
