import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** A PostgreSQL-compatible server running inside this process, for local runs without a database. */
export interface EmbeddedDatabase {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts PGlite (PostgreSQL compiled to WebAssembly) behind a wire-protocol socket on loopback, so that `pg` and
 * TypeORM talk to it unchanged. It serialises transactions: fine for a laptop, never for production or for tests
 * of concurrency.
 */
export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const absoluteDir = resolve(dataDir);
  mkdirSync(absoluteDir, { recursive: true });
  const db = await PGlite.create(absoluteDir);
  const port = await findFreePort();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 16 });
  await server.start();

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir: absoluteDir,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}
