import { describeError } from '@app/observability';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AUDIT_INTEGRITY_OPTIONS } from './audit-integrity.module-definition';
import { AuditIntegrityOptions } from './audit-integrity.options';
import { dropExpiredPartitions, RetentionResult } from './retention';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Runs the retention job on every replica once a day; the job's advisory lock makes one of them act. Does nothing
 * when `retentionMonths` is 0.
 */
@Injectable()
export class AuditRetentionScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditRetentionScheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    @Inject(AUDIT_INTEGRITY_OPTIONS) private readonly options: AuditIntegrityOptions,
  ) {}

  onApplicationBootstrap(): void {
    const months = this.options.retentionMonths ?? 0;
    if (months <= 0) {
      return;
    }
    const schedule = (delayMs: number): void => {
      this.timer = setTimeout(() => {
        this.running = this.runOnce().finally(() => schedule(this.options.retentionIntervalMs ?? DAY_MS));
      }, delayMs);
      this.timer.unref();
    };
    schedule(this.options.retentionFirstRunMs ?? 60_000);
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One try of the job; failures are logged, never thrown, so that the next day tries again. */
  async runOnce(): Promise<RetentionResult | undefined> {
    try {
      const result = await dropExpiredPartitions(this.dataSource, {
        retentionMonths: this.options.retentionMonths ?? 0,
      });
      for (const dropped of result.dropped) {
        this.logger.log(dropped, `dropped expired decision partition ${dropped.partition}`);
      }

      return result;
    } catch (error) {
      this.logger.error(`audit retention failed: ${describeError(error)}`);

      return undefined;
    }
  }
}
