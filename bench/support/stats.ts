import { readdirSync, readFileSync } from 'node:fs';

/** Percentile of already collected samples (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) {
    return Number.NaN;
  }
  const sorted = [...samples].sort((a, b) => a - b);

  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export function formatMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

/** CPU seconds (user + system) used so far by each process, read from /proc (Linux only; empty elsewhere). */
export function cpuSecondsByProcess(): Map<number, { name: string; seconds: number }> {
  const result = new Map<number, { name: string; seconds: number }>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return result;
  }
  const ticks = 100;
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
      result.set(Number(entry), { name, seconds });
    } catch {
      // The process ended between the listing and the read.
    }
  }

  return result;
}

/**
 * Measures where the CPU went while `work` ran: seconds per labelled process group. `label` names a process by its
 * pid and name (return undefined to leave it out of the table).
 */
export async function cpuDuring<T>(
  work: () => Promise<T>,
  label: (pid: number, name: string) => string | undefined,
): Promise<{ result: T; cpu: Map<string, number> }> {
  const before = cpuSecondsByProcess();
  const result = await work();
  const after = cpuSecondsByProcess();
  const cpu = new Map<string, number>();
  for (const [pid, { name, seconds }] of after) {
    const group = label(pid, name);
    if (group === undefined) {
      continue;
    }
    const used = seconds - (before.get(pid)?.seconds ?? 0);
    cpu.set(group, (cpu.get(group) ?? 0) + used);
  }

  return { result, cpu };
}

/** `service 1.23 s (45 %), postgres ...`: each group's seconds and share of the total. */
export function formatCpu(cpu: Map<string, number>): string {
  const total = [...cpu.values()].reduce((sum, seconds) => sum + seconds, 0);

  return [...cpu.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([group, seconds]) => `${group} ${seconds.toFixed(1)} s (${((seconds / total) * 100).toFixed(0)} %)`)
    .join(', ');
}
