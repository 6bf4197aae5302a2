import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  // Whatever JSON the client sent; tests read the fields they expect.

  body: any;
}

export interface StubReply {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, instead of `body` (a broken answer, say). */
  rawBody?: string;
  delayMs?: number;
}

export type StubHandler = (request: ReceivedRequest) => StubReply | Promise<StubReply>;

export interface HttpStub {
  url: string;
  requests: ReceivedRequest[];
  handler: StubHandler;
  close(): Promise<void>;
}

/** A real HTTP server on a random port that records every request and answers with `handler` (replaceable). */
export async function startHttpStub(handler: StubHandler): Promise<HttpStub> {
  const sockets = new Set<import('node:net').Socket>();
  const stub: HttpStub = { url: '', requests: [], handler, close: () => Promise.resolve() };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text === '' ? undefined : JSON.parse(text),
      };
      stub.requests.push(received);
      void Promise.resolve(stub.handler(received)).then(async (reply) => {
        if (reply.delayMs) {
          await new Promise((resolve) => setTimeout(resolve, reply.delayMs).unref());
        }
        if (res.destroyed) {
          return;
        }
        res.statusCode = reply.status;
        if (reply.rawBody !== undefined) {
          res.setHeader('content-type', 'application/json');
          res.end(reply.rawBody);
        } else if (reply.body === undefined) {
          res.end();
        } else {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(reply.body));
        }
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.close = async () => {
    sockets.forEach((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return stub;
}
