import { DataSource } from 'typeorm';
import { AUDIT_CHAIN_LOCK_KEY } from './chain-verifier';

/** How long decisions are kept; partitions wholly older than `retentionMonths` before `now`'s month go. */
export interface RetentionOptions {
  /** Whole months to keep before the current one; 0 keeps everything. */
  retentionMonths: number;
  /** The moment to count from; the database's clock caps it, so a caller can only make it keep more. @default now */
  now?: Date;
}

export interface DroppedPartition {
  partition: string;
  from: string;
  to: string;
  rows: number;
}

export type RetentionResult =
  | { ran: true; dropped: DroppedPartition[] }
  | { ran: false; reason: 'disabled' | 'busy'; dropped: [] };

/**
 * Drops the monthly partitions of `decisions` older than the retention, whole (DROP TABLE, never a row-by-row
 * DELETE), after recording an anchor for each run of chain positions they held so that the chain stays
 * verifiable. Any replica may call it: it acts only when it wins a transaction-scoped advisory lock (which a
 * running verification also holds, shared), and reports `busy` otherwise.
 */
export async function dropExpiredPartitions(
  dataSource: DataSource,
  options: RetentionOptions,
): Promise<RetentionResult> {
  if (!Number.isInteger(options.retentionMonths) || options.retentionMonths < 0) {
    throw new RangeError(`retentionMonths must be a whole number >= 0, got ${options.retentionMonths}`);
  }
  if (options.retentionMonths === 0) {
    return { ran: false, reason: 'disabled', dropped: [] };
  }

  return dataSource.transaction(async (manager): Promise<RetentionResult> => {
    const locks: { locked: boolean }[] = await manager.query(
      `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked`,
      [AUDIT_CHAIN_LOCK_KEY],
    );
    if (!locks[0]?.locked) {
      return { ran: false, reason: 'busy', dropped: [] };
    }
    const rows: { partition_name: string; range_from: Date; range_to: Date; row_count: string }[] = await manager.query(
      `SELECT partition_name, range_from, range_to, row_count FROM audit_chain.drop_expired_partitions($1, $2)`,
      [options.retentionMonths, (options.now ?? new Date()).toISOString()],
    );

    return {
      ran: true,
      dropped: rows.map((row) => ({
        partition: row.partition_name,
        from: new Date(row.range_from).toISOString(),
        to: new Date(row.range_to).toISOString(),
        rows: Number(row.row_count),
      })),
    };
  });
}
