import { Logger } from '@nestjs/common';
import { Logger as TypeOrmLogger } from 'typeorm';

/**
 * Routes TypeORM's own messages into the structured log. Query text is logged only for failures and slow queries,
 * and parameters never, since they carry customer identifiers and tokens.
 */
export class StructuredTypeOrmLogger implements TypeOrmLogger {
  private readonly logger = new Logger('TypeORM');

  logQuery(): void {}

  logQueryError(error: string | Error, query: string): void {
    this.logger.warn(`query failed: ${error instanceof Error ? error.message : error} (${abbreviate(query)})`);
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow query took ${time} ms (${abbreviate(query)})`);
  }

  logSchemaBuild(): void {}

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    if (level === 'warn') {
      this.logger.warn(text);
    } else {
      this.logger.log(text);
    }
  }
}

function abbreviate(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();

  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}
