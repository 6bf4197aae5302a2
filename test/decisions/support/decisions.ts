import { Decision } from '@app/decisions';
import { applyMigrations, connectWithRetry } from '@app/database';
import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';

export function makeDecision(overrides: Partial<Decision> = {}): Decision {
  return {
    id: randomUUID(),
    flow: 'scheduled',
    campaignId: '42',
    actionId: '7',
    seriesId: null,
    clearanceId: randomUUID(),
    customerId: `C${Math.floor(Math.random() * 1e9)}`,
    isVisitor: false,
    allowed: true,
    mode: 'enforce',
    policy: 'default',
    reasons: [],
    checks: [{ name: 'compliance', outcome: 'pass', durationMs: 0.01 }],
    decidedAt: new Date().toISOString(),
    latencyMs: 3,
    reportedAt: null,
    ...overrides,
  };
}

/** A migrated data source on the given database. */
export async function openMigrated(url: string, poolMax = 8): Promise<DataSource> {
  const logger = new Logger('test');
  const dataSource = await connectWithRetry(
    { url, poolMax, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000, applicationName: 'decisions-test' },
    5000,
    logger,
  );
  await applyMigrations(dataSource, logger);

  return dataSource;
}
