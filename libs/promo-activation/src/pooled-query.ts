import { rowsOf } from '@app/database';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';

/**
 * Runs a statement as a named prepared statement on the data source's pg pool: each connection parses and plans it
 * once, instead of once per call through TypeORM's query runner. Falls back to `DataSource.query` (unnamed) when the
 * driver has no pg pool.
 */
export async function pooledQuery<T>(
  dataSource: DataSource,
  name: string,
  text: string,
  values: unknown[],
): Promise<T[]> {
  const pool = (dataSource.driver as { master?: unknown }).master as Pool | undefined;
  if (pool === undefined || typeof pool.query !== 'function') {
    return rowsOf<T>(await dataSource.query(text, values));
  }
  const result = await pool.query({ name, text, values });

  return result.rows as T[];
}
