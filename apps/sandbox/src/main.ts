import { parseRateLimit } from './optimove/sliding-window.limiter';
import { SandboxOptions } from './sandbox.options';
import { startSandbox } from './sandbox.runner';

function readPort(name: string, fallback: number, problems: string[]): number {
  const text = process.env[name];
  if (text === undefined || text === '') {
    return fallback;
  }
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(`${name} must be a port number (got '${text}')`);
  }

  return port;
}

function readOptions(): SandboxOptions | string[] {
  const env = process.env;
  const problems: string[] = [];
  const options: SandboxOptions = {
    host: env.SANDBOX_HOST || '127.0.0.1',
    optimovePort: readPort('SANDBOX_OPTIMOVE_PORT', 4100, problems),
    promoPort: readPort('SANDBOX_PROMO_PORT', 4200, problems),
    profilePort: readPort('SANDBOX_PROFILE_PORT', 4300, problems),
    apiKey: env.SANDBOX_API_KEY || 'sandbox-api-key',
    timezone: env.SANDBOX_TIMEZONE || 'Europe/London',
    promoToken: env.SANDBOX_PROMO_TOKEN || undefined,
    profileToken: env.SANDBOX_PROFILE_TOKEN || undefined,
  };
  if (env.SANDBOX_RATE_LIMIT) {
    const rateLimit = parseRateLimit(env.SANDBOX_RATE_LIMIT);
    if (rateLimit === undefined) {
      problems.push(`SANDBOX_RATE_LIMIT must be 'off' or '<requests>/<seconds>' (got '${env.SANDBOX_RATE_LIMIT}')`);
    } else {
      options.rateLimit = rateLimit;
    }
  }
  if (env.SANDBOX_PROFILE_SEED) {
    options.profileSeed = Number(env.SANDBOX_PROFILE_SEED);
    if (!Number.isInteger(options.profileSeed)) {
      problems.push(`SANDBOX_PROFILE_SEED must be an integer (got '${env.SANDBOX_PROFILE_SEED}')`);
    }
  }
  if (env.SANDBOX_LOG === '1' || env.SANDBOX_LOG === 'true') {
    options.logger = (line) => process.stdout.write(`${line}\n`);
  }

  return problems.length > 0 ? problems : options;
}

async function main(): Promise<void> {
  const options = readOptions();
  if (Array.isArray(options)) {
    process.stderr.write(`sandbox: invalid configuration:\n${options.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  const sandbox = await startSandbox(options);
  const rateLimit =
    options.rateLimit === false
      ? 'off'
      : `${options.rateLimit?.requests ?? 50} per ${(options.rateLimit?.windowMs ?? 10_000) / 1000} s`;
  const lines = [
    'sandbox started',
    `  optimove  ${sandbox.optimoveUrl}  (X-API-KEY ${sandbox.apiKey}, times in ${options.timezone}, ` +
      `rate limit ${rateLimit}; also under /current and /v3.0)`,
    `  promo     ${sandbox.promoUrl}`,
    `  profile   ${sandbox.profileUrl}`,
    '',
    'point the service at it with:',
    `  OPTIMOVE_API_URL=${sandbox.optimoveUrl}`,
    `  OPTIMOVE_API_KEY=${sandbox.apiKey}`,
    `  OPTIMOVE_TIMEZONE=${options.timezone}`,
    `  PROMO_API_URL=${sandbox.promoUrl}`,
    ...(options.promoToken ? [`  PROMO_API_TOKEN=${options.promoToken}`] : []),
    `  PROFILE_API_URL=${sandbox.profileUrl}`,
    ...(options.profileToken ? [`  PROFILE_API_TOKEN=${options.profileToken}`] : []),
    '',
    `control API: ${sandbox.optimoveUrl}/control/... (see apps/sandbox/README.md); Ctrl-C stops`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    process.stdout.write(`sandbox: ${signal} received, stopping\n`);
    sandbox.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`sandbox: failed to stop cleanly: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
