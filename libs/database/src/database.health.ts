import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { migrationsAreApplied } from './database-startup';

/** Readiness of the database: reachable within a timeout, and every migration applied. */
@Injectable()
export class DatabaseHealthIndicator {
  private migrationsVerified = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly health: HealthIndicatorService,
  ) {}

  async check(key: string, timeoutMs: number): Promise<HealthIndicatorResult> {
    const indicator = this.health.check(key);
    try {
      await withTimeout(this.dataSource.query('SELECT 1'), timeoutMs);
      if (!this.migrationsVerified) {
        this.migrationsVerified = await withTimeout(migrationsAreApplied(this.dataSource), timeoutMs);
      }
    } catch (error) {
      return indicator.down({ message: error instanceof Error ? error.message : 'unreachable' });
    }

    return this.migrationsVerified ? indicator.up() : indicator.down({ message: 'migrations pending' });
  }
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
