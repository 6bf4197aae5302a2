import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const CUSTOMERS = 1500;
const REASON_CODES = [
  'COMPLIANCE_ACCOUNT_STATUS',
  'COMPLIANCE_MIN_DEPOSIT',
  'COMPLIANCE_COUNTRY',
  'COMPLIANCE_KYC',
  'COMPLIANCE_SELF_EXCLUDED',
  'PROFILE_NOT_FOUND',
  'PROFILE_UNAVAILABLE',
  'PROMO_REJECTED',
  'PROMO_UNAVAILABLE',
  'VISITOR',
  'TIMEOUT',
  'DEADLINE_EXCEEDED',
];

interface DemoRun {
  code: number | null;
  output: string;
}

/** Runs `npm run demo`'s command as a user would, with no configuration but the demo's own settings. */
async function runDemo(env: Record<string, string>, timeoutMs: number): Promise<DemoRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/run-demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // On timeout the runner gets SIGTERM, which stops its own children before it exits.
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);

  return { code, output };
}

const count = (text: string): number => Number(text.replace(/,/g, ''));

function section(output: string, from: string, to: string): string {
  const start = output.indexOf(from);
  const end = output.indexOf(to, start + 1);

  return start < 0 ? '' : output.slice(start, end < 0 ? undefined : end);
}

function rowValue(text: string, label: string): number {
  const match = new RegExp(`^\\s+${label}\\s+([\\d,]+)$`, 'm').exec(text);
  if (!match) {
    throw new Error(`no '${label}' row in:\n${text}`);
  }

  return count(match[1]);
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });

    return true;
  } catch {
    return false;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);

    return true;
  } catch {
    return false;
  }
}

describe('npm run demo', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'demo-spec-'));
  let run: DemoRun;

  beforeAll(async () => {
    run = await runDemo(
      { DEMO_CUSTOMERS: String(CUSTOMERS), DEMO_TRIGGERED: '50', DEMO_LEAD_SECONDS: '60', DEMO_DATA_DIR: dataDir },
      110_000,
    );
  }, 130_000);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('should exit 0 with a summary whose decisions add up to the campaign', () => {
    expect({ code: run.code, output: run.code === 0 ? '' : run.output }).toEqual({ code: 0, output: '' });
    const scheduled = section(run.output, 'Scheduled campaign', 'Triggered campaign');
    const approved = rowValue(scheduled, 'approved');
    const denied = rowValue(scheduled, 'denied');

    expect(run.output).toMatch(/^Summary$/m);
    expect(scheduled).toMatch(/status\s+completed/);
    expect(scheduled).toMatch(/deadline met\s+yes/);
    expect(approved + denied).toBe(CUSTOMERS);
    expect(rowValue(scheduled, 'reported to Optimove')).toBe(approved);
    expect(rowValue(scheduled, 'approvals Optimove holds')).toBe(approved);
    // The sandbox's profiles pass the default policy about 88 % of the time.
    expect(approved / CUSTOMERS).toBeGreaterThan(0.8);
    const reasons = [...scheduled.matchAll(/^ {6}([A-Z_]+)\s+([\d,]+)$/gm)];
    expect(reasons.map(([, code]) => code).every((code) => REASON_CODES.includes(code))).toBe(true);
    expect(reasons.reduce((sum, [, , n]) => sum + count(n), 0)).toBeGreaterThanOrEqual(denied);
  });

  it('should report the triggered burst and how to query the audit API', () => {
    const triggered = section(run.output, 'Triggered campaign', 'Look further');

    // A gateway that fails still gets every request; its failures show as "not sent", never as a crash.
    expect(rowValue(triggered, 'requests')).toBe(50);
    expect(rowValue(triggered, 'sent \\(Optimove got allowed: true\\)') + rowValue(triggered, 'not sent')).toBe(50);
    expect(triggered).toMatch(/gateway latency p95\s+[\d.]+ ms/);
    expect(run.output).toMatch(
      /curl -s -H 'Authorization: Bearer \S{16,}' 'http:\/\/127\.0\.0\.1:\d+\/audit\/clearances\/[0-9a-f-]{36}'/,
    );
    expect(run.output).toMatch(/curl .*\/audit\/campaigns\/\d+\/summary'/);
    expect(run.output).toMatch(/DEMO_KEEP_RUNNING=1/);
    expect(run.output).toContain(join(dataDir, 'demo.log'));
  });

  it('should leave nothing running', async () => {
    const pids = [...run.output.matchAll(/\(pid (\d+)\)/g)].map(([, pid]) => Number(pid));
    const urls = [...new Set(run.output.match(/http:\/\/127\.0\.0\.1:\d+/g) ?? [])];

    expect(pids).toHaveLength(2);
    expect(urls.length).toBeGreaterThanOrEqual(4);
    expect(pids.filter(isRunning)).toEqual([]);
    expect(
      (await Promise.all(urls.map(async (url) => ((await answers(`${url}/`)) ? url : '')))).filter(Boolean),
    ).toEqual([]);
  });

  it('should refuse bad settings with a message naming them, before starting anything', async () => {
    const bad = await runDemo({ DEMO_CUSTOMERS: 'many', DEMO_DATA_DIR: dataDir }, 30_000);

    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/DEMO_CUSTOMERS must be a whole number/);
    expect(bad.output).not.toMatch(/pid \d+/);
  });
});
