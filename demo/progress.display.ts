import { ClearanceView } from './demo.types';

const BAR_WIDTH = 24;
const PLAIN_INTERVAL_MS = 5_000;

export const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Seconds with one decimal below a minute, whole seconds above. */
export function formatSeconds(seconds: number): string {
  return Math.abs(seconds) < 60 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** The progress of a clearance in one line: decided of total, approvals, denials, reports, time to the deadline. */
export function describeProgress(view: ClearanceView | undefined, now: number, withBar: boolean): string {
  if (!view) {
    return 'waiting for the clearance to start';
  }
  const decided = view.approved + view.denied;
  const share = view.total > 0 ? decided / view.total : 0;
  const filled = Math.round(share * BAR_WIDTH);
  const bar = withBar ? `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ` : '';
  const left = (Date.parse(view.clearanceRequiredBy) - now) / 1000;
  const total = view.total > 0 ? formatCount(view.total) : '?';

  return (
    `${bar}${Math.floor(share * 100)}% ${formatCount(decided)}/${total} decided` +
    ` | approved ${formatCount(view.approved)} | denied ${formatCount(view.denied)}` +
    ` | reported ${formatCount(view.reported)} | ${view.status}, ${formatSeconds(Math.max(0, left))} to the deadline`
  );
}

/**
 * On a terminal: one line redrawn in place. Elsewhere (CI, a pipe, a test): a plain line every few seconds, so that
 * a log stays readable.
 */
export class ProgressDisplay {
  private current = '';
  private lastPlainAt = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    readonly interactive = out.isTTY === true,
  ) {}

  update(line: string, force = false): void {
    if (this.interactive) {
      this.current = this.fit(`  ${line}`);
      this.out.write(`\r\x1b[2K${this.current}`);

      return;
    }
    if (force || Date.now() - this.lastPlainAt >= PLAIN_INTERVAL_MS) {
      this.lastPlainAt = Date.now();
      this.out.write(`  ${line}\n`);
    }
  }

  /** A line that stays, written above the progress line. */
  note(line: string): void {
    if (this.interactive) {
      this.out.write(`\r\x1b[2K${line}\n${this.current}`);

      return;
    }
    this.out.write(`${line}\n`);
  }

  /** Leaves the last progress line on screen and moves below it. */
  finish(line: string): void {
    if (this.interactive) {
      this.out.write(`\r\x1b[2K${this.fit(`  ${line}`)}\n`);
      this.current = '';

      return;
    }
    this.out.write(`  ${line}\n`);
  }

  private fit(line: string): string {
    const columns = this.out.columns > 0 ? this.out.columns - 1 : 119;

    return line.length > columns ? `${line.slice(0, columns - 1)}…` : line;
  }
}
