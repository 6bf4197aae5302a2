import { isValidTimeZone } from './common/zoned-time.util';
import { OptimoveStandIn } from './optimove/optimove.server';
import { ProfileStandIn } from './profile/profile.server';
import { PromoStandIn } from './promo/promo.server';
import { DEFAULT_RATE_LIMIT, ResolvedSandboxOptions, Sandbox, SandboxOptions } from './sandbox.options';

export function resolveOptions(options: SandboxOptions = {}): ResolvedSandboxOptions {
  const timezone = options.timezone ?? 'Europe/London';
  if (!isValidTimeZone(timezone)) {
    throw new Error(`Unknown time zone: ${timezone}`);
  }
  const rateLimit = options.rateLimit === undefined ? DEFAULT_RATE_LIMIT : options.rateLimit;
  if (rateLimit && (!Number.isInteger(rateLimit.requests) || rateLimit.requests < 1 || !(rateLimit.windowMs > 0))) {
    throw new Error('rateLimit needs requests >= 1 and windowMs > 0');
  }

  return {
    host: options.host ?? '127.0.0.1',
    optimovePort: options.optimovePort ?? 4100,
    promoPort: options.promoPort ?? 4200,
    profilePort: options.profilePort ?? 4300,
    apiKey: options.apiKey ?? 'sandbox-api-key',
    promoToken: options.promoToken,
    profileToken: options.profileToken,
    timezone,
    rateLimit,
    profileSeed: options.profileSeed ?? 1,
    logger: options.logger ?? (() => undefined),
  };
}

/** Starts the Optimove, promo system and profile source stand-ins; stops whatever started if one fails. */
export async function startSandbox(options?: SandboxOptions): Promise<Sandbox> {
  const resolved = resolveOptions(options);
  const optimove = new OptimoveStandIn({
    apiKey: resolved.apiKey,
    timezone: resolved.timezone,
    rateLimit: resolved.rateLimit,
    logger: resolved.logger,
  });
  const promo = new PromoStandIn({ token: resolved.promoToken });
  const profile = new ProfileStandIn({ seed: resolved.profileSeed, token: resolved.profileToken });
  const servers = [optimove.server, promo.server, profile.server];

  try {
    const optimoveUrl = await optimove.server.listen(resolved.host, resolved.optimovePort);
    const promoUrl = await promo.server.listen(resolved.host, resolved.promoPort);
    const profileUrl = await profile.server.listen(resolved.host, resolved.profilePort);
    let stopping: Promise<void> | undefined;

    return {
      optimoveUrl,
      promoUrl,
      profileUrl,
      apiKey: resolved.apiKey,
      stop: () => {
        stopping ??= Promise.all(servers.map((server) => server.close())).then(() => undefined);

        return stopping;
      },
    };
  } catch (error) {
    await Promise.allSettled(servers.map((server) => server.close()));
    throw error;
  }
}
