import { once } from 'node:events';
import { AddressInfo, createConnection, createServer, Server, Socket } from 'node:net';

/** Where the proxy forwards to, and how long it may live at most. */
export interface FaultProxyOptions {
  target: { host: string; port: number };
  /** Safety net: the proxy closes itself after this long even if a test forgets to (default 120 s). */
  maxLifetimeMs?: number;
}

export interface FaultProxyStats {
  /** Connections accepted and forwarded (or held, when black-holed). */
  accepted: number;
  /** Connections reset on arrival because the proxy was cut off. */
  refused: number;
  /** Connections destroyed with a TCP RST by `resetAll`, `cutOff` or the end of a black hole. */
  reset: number;
  /** Connections open right now. */
  open: number;
  bytesToTarget: number;
  bytesToClient: number;
}

/** A TCP proxy on loopback whose faults a test switches on and off; see `startFaultProxy`. */
export interface FaultProxy {
  readonly port: number;
  /** `protocol://127.0.0.1:port`, e.g. `url('http')` for an HTTP target. */
  url(protocol: string): string;
  /** `original` (any URL, e.g. a `postgres://` one) with its host and port replaced by the proxy's. */
  rewrite(original: string): string;
  /** Delays every chunk, in both directions, by `ms` (order kept). */
  setLatency(ms: number): void;
  /** On: connections are accepted and held, nothing is forwarded or answered. Off: the held ones are reset. */
  blackHole(on: boolean): void;
  /** Destroys every open connection with a TCP RST; answers how many. */
  resetAll(): number;
  /** Resets every connection and refuses new ones (reset on arrival) for `ms`, or until `heal()`. */
  cutOff(ms?: number): void;
  /** Ends every fault: no latency, no black hole, no cut-off. */
  heal(): void;
  stats(): FaultProxyStats;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream?: Socket;
  /** Accepted during a black hole, or caught in one: its byte stream is broken, so it is reset on healing. */
  held: boolean;
  /** When the last delayed chunk is due, so that a close does not overtake data still in the latency queue. */
  flushAt: number;
}

const DEFAULT_MAX_LIFETIME_MS = 120_000;

/**
 * Starts a proxy on 127.0.0.1 (random port) in front of `target`. Faults act at the TCP level, so it serves
 * PostgreSQL as well as HTTP. Refusal is an RST right after accept rather than a closed port: re-listening on the
 * same port later could lose it to another process, and clients see a reset either way.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const links = new Set<Link>();
  const counts = { accepted: 0, refused: 0, reset: 0, bytesToTarget: 0, bytesToClient: 0 };
  let latencyMs = 0;
  let blackHoled = false;
  let refusing = false;
  let cutOffTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const resetLink = (link: Link): void => {
    if (links.delete(link)) {
      counts.reset++;
    }
    link.client.resetAndDestroy();
    link.upstream?.resetAndDestroy();
  };
  const resetAll = (): number => {
    const all = [...links];
    all.forEach(resetLink);

    return all.length;
  };

  /** Forwards `from` to `to` with the current latency, dropping everything while black-holed. */
  const pipe = (link: Link, from: Socket, to: Socket, toTarget: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      if (blackHoled || link.held) {
        link.held = true;

        return;
      }
      if (toTarget) {
        counts.bytesToTarget += chunk.length;
      } else {
        counts.bytesToClient += chunk.length;
      }
      if (latencyMs === 0 && link.flushAt <= Date.now()) {
        to.write(chunk);

        return;
      }
      const dueAt = Math.max(Date.now() + latencyMs, link.flushAt);
      link.flushAt = dueAt;
      setTimeout(() => !to.destroyed && to.write(chunk), dueAt - Date.now());
    });
    from.on('end', () => {
      setTimeout(() => !to.destroyed && to.end(), Math.max(0, link.flushAt - Date.now()));
    });
  };

  const connectUpstream = (link: Link): void => {
    const upstream = createConnection({ host: options.target.host, port: options.target.port });
    link.upstream = upstream;
    upstream.setNoDelay(true);
    pipe(link, link.client, upstream, true);
    pipe(link, upstream, link.client, false);
    upstream.on('error', () => resetLink(link));
    upstream.on('close', () => {
      links.delete(link);
      setTimeout(() => link.client.destroy(), Math.max(0, link.flushAt - Date.now()));
    });
  };

  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    if (refusing || closed) {
      counts.refused++;
      client.resetAndDestroy();

      return;
    }
    counts.accepted++;
    client.setNoDelay(true);
    const link: Link = { client, held: blackHoled, flushAt: 0 };
    links.add(link);
    client.on('error', () => resetLink(link));
    client.on('close', () => {
      links.delete(link);
      setTimeout(() => link.upstream?.destroy(), Math.max(0, link.flushAt - Date.now()));
    });
    if (!link.held) {
      connectUpstream(link);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const heal = (): void => {
    clearTimeout(cutOffTimer);
    latencyMs = 0;
    refusing = false;
    if (blackHoled) {
      blackHoled = false;
      [...links].filter((link) => link.held).forEach(resetLink);
    }
  };
  const close = async (): Promise<void> => {
    if (closed) {
      return;
    }
    closed = true;
    clearTimeout(cutOffTimer);
    clearTimeout(lifetime);
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    resetAll();
    await stopped;
  };
  const lifetime = setTimeout(() => void close(), options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS);
  lifetime.unref();

  return {
    port,
    url: (protocol) => `${protocol}://127.0.0.1:${port}`,
    rewrite: (original) => {
      const url = new URL(original);
      url.hostname = '127.0.0.1';
      url.port = String(port);

      return url.toString();
    },
    setLatency: (ms) => {
      latencyMs = Math.max(0, ms);
    },
    blackHole: (on) => {
      if (on) {
        blackHoled = true;
      } else if (blackHoled) {
        blackHoled = false;
        [...links].filter((link) => link.held).forEach(resetLink);
      }
    },
    resetAll,
    cutOff: (ms) => {
      clearTimeout(cutOffTimer);
      refusing = true;
      resetAll();
      if (ms !== undefined) {
        cutOffTimer = setTimeout(() => {
          refusing = false;
        }, ms);
        cutOffTimer.unref();
      }
    },
    heal,
    stats: () => ({ ...counts, open: links.size }),
    close,
  };
}
