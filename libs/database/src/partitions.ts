import { DataSource } from 'typeorm';

const PARTITION_LOCK_KEY = 'optimove-clearance:decision-partitions';

/**
 * Makes sure the monthly partitions of `decisions` exist from the current month `monthsAhead` into the future.
 * Serialised across replicas by a transaction-scoped advisory lock. Returns how many partitions were created.
 */
export async function ensureDecisionPartitions(dataSource: DataSource, monthsAhead = 3): Promise<number> {
  return dataSource.transaction(async (manager) => {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [PARTITION_LOCK_KEY]);
    const rows: { created: number }[] = await manager.query(
      `SELECT ensure_decision_partitions(now()::date, $1) AS created`,
      [monthsAhead + 1],
    );

    return rows[0]?.created ?? 0;
  });
}
