import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

const TAIL_LINES = 30;
const STOP_GRACE_MS = 10_000;

/** One app started by the demo; its output goes to the shared log file, the last lines are kept for errors. */
export interface RunningChild {
  name: string;
  pid: number;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<string>;
  hasExited(): boolean;
  tail(): string[];
}

/**
 * Starts the sandbox and the service as child processes and makes sure none outlives the demo: each is sent SIGTERM
 * on the way out and SIGKILL if it has not exited after a grace period.
 */
export class ChildProcesses {
  private readonly children: { child: ChildProcess; running: RunningChild }[] = [];
  private readonly log: WriteStream;
  private stopping?: Promise<void>;

  constructor(readonly logPath: string) {
    this.log = createWriteStream(logPath, { flags: 'a' });
  }

  start(name: string, entry: string, env: Record<string, string>, cwd: string): RunningChild {
    const child = spawn(process.execPath, [entry], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let exitedWith: string | undefined;
    const record = (stream: Readable | null): void => {
      if (!stream) {
        return;
      }
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.log.write(`[${name}] ${line}\n`);
        lines.push(line);
        if (lines.length > TAIL_LINES) {
          lines.shift();
        }
      });
    };
    record(child.stdout);
    record(child.stderr);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (error) => {
        exitedWith = `error: ${error.message}`;
        resolve(exitedWith);
      });
      child.once('exit', (code, signal) => {
        exitedWith = code === null ? String(signal) : `code ${code}`;
        this.log.write(`[${name}] exited with ${exitedWith}\n`);
        resolve(exitedWith);
      });
    });
    const running: RunningChild = {
      name,
      pid: child.pid ?? 0,
      exited,
      hasExited: () => exitedWith !== undefined,
      tail: () => [...lines],
    };
    this.children.push({ child, running });

    return running;
  }

  /** First failure among the children: resolves when any of them exits while the demo still needs it. */
  firstExit(): Promise<RunningChild> {
    return Promise.race(this.children.map(({ running }) => running.exited.then(() => running)));
  }

  /** Stops every child (service first, so that it finishes its last calls to the sandbox) and waits for each. */
  stopAll(): Promise<void> {
    this.stopping ??= this.stopEach();

    return this.stopping;
  }

  private async stopEach(): Promise<void> {
    for (const { child, running } of [...this.children].reverse()) {
      if (running.hasExited()) {
        continue;
      }
      child.kill('SIGTERM');
      const outcome = await Promise.race([running.exited, sleep(STOP_GRACE_MS, 'timeout')]);
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        await running.exited;
      }
    }
    this.log.end();
    await once(this.log, 'close');
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');

  return typeof address === 'object' && address ? address.port : 0;
}
