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
