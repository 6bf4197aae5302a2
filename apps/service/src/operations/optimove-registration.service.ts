import { ServiceConfig } from '@app/config';
import { describeError } from '@app/observability';
import { OptimoveClient } from '@app/optimove';
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '../service-config.token';

const TASK = 'optimove-registration';
const CLEARANCE_EVENT_TYPE = 5;

export interface RegistrationResult {
  listenerUrl: string;
  gatewayUrl: string;
  gatewayTimeoutMs: number;
  /** False when this deployment had already registered exactly these URLs (at boot only). */
  changed: boolean;
}

/** Registration is impossible with this configuration; the message says what is missing. */
export class RegistrationUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistrationUnavailableError';
  }
}

/**
 * Tells Optimove where to reach this service: the event-5 listener and the triggered gateway, each with its token in
 * the URL. At boot (OPTIMOVE_REGISTER_ON_BOOT) this runs once for the whole deployment: under an advisory lock, and
 * only when the registered URLs differ from what this deployment registered last.
 */
@Injectable()
export class OptimoveRegistration implements OnApplicationBootstrap {
  private readonly logger = new Logger(OptimoveRegistration.name);

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: ServiceConfig,
    private readonly dataSource: DataSource,
    @Optional() private readonly optimove?: OptimoveClient,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.optimove.registerOnBoot) {
      return;
    }
    try {
      const result = await this.register(false);
      this.logger.log(
        { changed: result.changed, gatewayTimeoutMs: result.gatewayTimeoutMs },
        result.changed ? 'registered the listener and the gateway with Optimove' : 'Optimove registration unchanged',
      );
    } catch (error) {
      // Registration is retried by the next replica to start, or by POST /admin/optimove/register; the service
      // itself is healthy, so it keeps starting.
      this.logger.error(`registering with Optimove failed: ${describeError(error)}`);
    }
  }

  /** Registers now; `force` skips the "already registered" check (the admin endpoint). */
  async register(force: boolean): Promise<RegistrationResult> {
    const optimove = this.optimove;
    const { listener, gateway, http } = this.config;
    if (!optimove) {
      throw new RegistrationUnavailableError('OPTIMOVE_API_URL and OPTIMOVE_API_KEY are not set');
    }
    if (!listener.token || !gateway.token) {
      throw new RegistrationUnavailableError('LISTENER_TOKEN and GATEWAY_TOKEN must be set before registering');
    }
    const listenerUrl = `${http.publicBaseUrl}/optimove/events?token=${encodeURIComponent(listener.token)}`;
    const gatewayUrl = `${http.publicBaseUrl}/optimove/triggered?token=${encodeURIComponent(gateway.token)}`;
    const fingerprint = createHash('sha256')
      .update(`${listenerUrl}\n${gatewayUrl}\n${gateway.timeoutMs}`)
      .digest('hex');
    const result = {
      listenerUrl: redactToken(listenerUrl),
      gatewayUrl: redactToken(gatewayUrl),
      gatewayTimeoutMs: gateway.timeoutMs,
    };

    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [TASK]);
      const previous: { last_result: string | null }[] = await manager.query(
        `SELECT last_result FROM scheduled_task_runs WHERE task = $1`,
        [TASK],
      );
      if (!force && previous[0]?.last_result === fingerprint) {
        return { ...result, changed: false };
      }
      await optimove.registerEventListener({ eventTypeId: CLEARANCE_EVENT_TYPE, listenerUrl });
      await optimove.setTriggeredGateway({ gatewayUrl, timeoutMs: gateway.timeoutMs });
      await manager.query(
        `INSERT INTO scheduled_task_runs (task, last_started_at, last_finished_at, last_result)
         VALUES ($1, now(), now(), $2)
         ON CONFLICT (task) DO UPDATE SET last_finished_at = now(), last_result = $2, last_error = NULL`,
        [TASK, fingerprint],
      );

      return { ...result, changed: true };
    });
  }
}

function redactToken(url: string): string {
  return url.replace(/token=[^&]*/, 'token=[REDACTED]');
}
