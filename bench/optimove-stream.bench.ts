/**
 * Streams a target group of 1,000,000 customers through OptimoveClient and prints customers/s and the client's
 * peak heap growth. The server runs in a child process (its own heap), so the heap figures are the client's:
 * the sandbox's Optimove stand-in when apps/sandbox exports startSandbox, else a local node:http page generator.
 * Run: `node --expose-gc --import tsx bench/optimove-stream.bench.ts [customers]`.
 */
import { OptimoveClient } from '@app/optimove';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fork } from 'node:child_process';

interface ServerInfo {
  kind: 'sandbox' | 'local node:http';
  url: string;
  apiKey: string;
  campaignId: number;
}

const CUSTOMERS = Number(process.argv[2] ?? 1_000_000);
const MB = 1024 * 1024;

async function startLocalServer(size: number): Promise<ServerInfo> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bench');
    const top = Number(url.searchParams.get('$top'));
    const skip = Number(url.searchParams.get('$skip'));
    const rows: string[] = [];
    for (let n = skip + 1; n <= Math.min(size, skip + top); n++) {
      rows.push(`{"CustomerID":"C${n}","ActionID":${(n % 3) + 1},"PromoCode":"PROMO${n % 5}"}`);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`[${rows.join(',')}]`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    kind: 'local node:http',
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    apiKey: 'bench',
    campaignId: 1,
  };
}

async function startSandboxServer(size: number): Promise<ServerInfo | undefined> {
  let sandboxModule: { startSandbox?: (options: object) => Promise<{ optimoveUrl: string; apiKey: string }> };
  try {
    sandboxModule = await import('../apps/sandbox/src');
  } catch {
    return undefined;
  }
  if (typeof sandboxModule.startSandbox !== 'function') {
    return undefined;
  }
  const sandbox = await sandboxModule.startSandbox({ optimovePort: 0, promoPort: 0, profilePort: 0, rateLimit: false });
  const response = await fetch(`${sandbox.optimoveUrl}/control/campaigns`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ size, promoCodes: ['P1', 'P2'] }),
  });
  const campaign = (await response.json()) as { campaignId: number };

  return { kind: 'sandbox', url: sandbox.optimoveUrl, apiKey: sandbox.apiKey, campaignId: campaign.campaignId };
}

async function serve(): Promise<void> {
  const size = Number(process.env.BENCH_CUSTOMERS);
  const preferLocal = process.env.BENCH_LOCAL_SERVER === '1';
  const info = (preferLocal ? undefined : await startSandboxServer(size)) ?? (await startLocalServer(size));
  process.send?.(info);
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Peak `heapUsed` growth counts garbage V8 has not collected yet; with `liveSampling` the heap is also measured
 * after a forced collection every tenth page (that pass is slower, so its rate is not reported).
 */
async function measure(info: ServerInfo, pagesInFlight: number, liveSampling = false): Promise<void> {
  const client = new OptimoveClient({
    apiUrl: info.url,
    apiKey: info.apiKey,
    rateLimit: false,
    pagesInFlight,
  });
  collectGarbage();
  const baseline = process.memoryUsage();
  let peakHeap = baseline.heapUsed;
  let peakOffHeap = baseline.arrayBuffers;
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peakHeap = Math.max(peakHeap, usage.heapUsed);
    peakOffHeap = Math.max(peakOffHeap, usage.arrayBuffers);
  }, 5);

  const started = performance.now();
  let customers = 0;
  let duplicates = 0;
  let pages = 0;
  let peakLive = baseline.heapUsed;
  for await (const page of client.streamProcessedCampaignCustomers(info.campaignId)) {
    customers += page.customers.length;
    duplicates += page.duplicates;
    pages++;
    const usage = process.memoryUsage();
    peakHeap = Math.max(peakHeap, usage.heapUsed);
    peakOffHeap = Math.max(peakOffHeap, usage.arrayBuffers);
    if (liveSampling && pages % 10 === 5) {
      collectGarbage();
      peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await client.close();

  const growth = (peakHeap - baseline.heapUsed) / MB;
  if (liveSampling) {
    const live = (peakLive - baseline.heapUsed) / MB;
    console.log(
      `pagesInFlight=${pagesInFlight} | retained heap growth (after gc, every 10th page) ${live.toFixed(1)} MB ` +
        `(target < 50 MB: ${live < 50 ? 'met' : 'MISSED'}) | peak including uncollected garbage ` +
        `${growth.toFixed(1)} MB | ${customers.toLocaleString('en-US')} customers`,
    );

    return;
  }
  console.log(
    [
      `pagesInFlight=${pagesInFlight}`,
      `${customers.toLocaleString('en-US')} customers (${duplicates} duplicates dropped) in ${pages} pages`,
      `${seconds.toFixed(2)} s`,
      `${Math.round(customers / seconds).toLocaleString('en-US')} customers/s`,
      `peak heapUsed growth ${growth.toFixed(1)} MB (counts garbage not yet collected: bounded by V8's young ` +
        `generation, not by the stream's size; the target is checked on the retained heap below)`,
      `peak off-heap (array buffers, incl. the seen-set) growth ` +
        `${((peakOffHeap - baseline.arrayBuffers) / MB).toFixed(1)} MB`,
    ].join(' | '),
  );
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) {
    console.log('note: run with --expose-gc for a clean heap baseline');
  }
  const server = fork(__filename, process.argv.slice(2), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_ROLE: 'server', BENCH_CUSTOMERS: String(CUSTOMERS) },
  });
  const info = await new Promise<ServerInfo>((resolve, reject) => {
    server.once('message', (message) => resolve(message as ServerInfo));
    server.once('error', reject);
  });
  console.log(`optimove-stream: ${CUSTOMERS.toLocaleString('en-US')} customers from the ${info.kind} server`);
  await measure(info, 1);
  await measure(info, 2);
  await measure(info, 4);
  if ((globalThis as { gc?: unknown }).gc) {
    await measure(info, 2, true);
  }
  server.kill();
}

if (process.env.BENCH_ROLE !== 'server') {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  serve().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
