import { DataSource, QueryRunner } from 'typeorm';
import { CANONICAL_TIME_SQL, canonicalText, chainHash, GENESIS_HASH } from './canonical-form';

/** Serialises verification (shared) against retention (exclusive), so that a drop never looks like a removal. */
export const AUDIT_CHAIN_LOCK_KEY = 'optimove-clearance:audit-chain-retention';

/** Which range of the chain to check; both ends inclusive, default the whole chain up to the current head. */
export interface VerifyAuditChainOptions {
  fromSeq?: number;
  toSeq?: number;
  /** Records read per query. @default 5000 */
  batchSize?: number;
}

/**
 * What broke the chain, at the first record where it shows:
 * - `altered`: the record's content does not hash to its stored `chain_hash`;
 * - `removed`: no record holds this position and no retention anchor covers it;
 * - `reordered`: the record is intact but its predecessor sits at another position (`predecessorSeq`);
 * - `unlinked`: the record is intact but its predecessor is nowhere (removed and renumbered, or replaced and
 *   re-hashed);
 * - `duplicate`: two records hold the same position;
 * - `head`: the chain does not end where `audit_chain.head` says (records at the tail removed).
 */
export type ChainFaultKind = 'altered' | 'removed' | 'reordered' | 'unlinked' | 'duplicate' | 'head';

export interface ChainFault {
  kind: ChainFaultKind;
  /** The chain position where the fault shows. */
  seq: number;
  /** The record at that position; null when there is none (`removed`, `head`). */
  id: string | null;
  message: string;
  predecessorSeq?: number;
}

export type AuditChainVerification =
  | { ok: true; checked: number; fromSeq: number; toSeq: number; skippedByRetention: number; headHash: string }
  | { ok: false; checked: number; fromSeq: number; toSeq: number; fault: ChainFault };

interface ChainRow {
  seq: string;
  id: string;
  prev_hash: Buffer;
  chain_hash: Buffer;
  decided_at: string;
  flow: string;
  campaign_id: string | null;
  action_id: string | null;
  series_id: string | null;
  clearance_id: string | null;
  customer_id: string;
  is_visitor: boolean;
  allowed: boolean;
  mode: string;
  policy: string;
  reason_codes: (string | null)[] | null;
  reasons: string;
  checks: string;
  latency_ms: number | null;
  recorded_at: string;
}

interface Anchor {
  first_seq: string;
  last_seq: string;
  last_hash: Buffer;
}

const ROWS_SQL = `
  SELECT chain_seq::text AS seq, id, prev_hash, chain_hash, ${CANONICAL_TIME_SQL('decided_at')} AS decided_at, flow,
         campaign_id, action_id, series_id, clearance_id::text AS clearance_id, customer_id, is_visitor, allowed, mode,
         policy, reason_codes, reasons::text AS reasons, checks::text AS checks, latency_ms,
         ${CANONICAL_TIME_SQL('recorded_at')} AS recorded_at
    FROM decisions
   WHERE chain_seq >= $1 AND chain_seq <= $2
   ORDER BY chain_seq
   LIMIT $3`;

/**
 * Recomputes the hash chain of `decisions` in chain order, in batches (memory stays flat whatever the size), and
 * reports the first fault with its position and record id, or `ok` with how many records were checked. Positions
 * removed by retention are skipped through their anchors. Holds a shared advisory lock so that retention does not
 * drop a partition meanwhile.
 */
export async function verifyAuditChain(
  dataSource: DataSource,
  options: VerifyAuditChainOptions = {},
): Promise<AuditChainVerification> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query(`SELECT pg_advisory_lock_shared(hashtextextended($1, 0))`, [AUDIT_CHAIN_LOCK_KEY]);
    try {
      return await verify(runner, options);
    } finally {
      await runner.query(`SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))`, [AUDIT_CHAIN_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

async function select<T>(runner: QueryRunner, sql: string, parameters: unknown[] = []): Promise<T[]> {
  return (await runner.query(sql, parameters)) as T[];
}

async function verify(runner: QueryRunner, options: VerifyAuditChainOptions): Promise<AuditChainVerification> {
  const batchSize = options.batchSize ?? 5000;
  const heads = await select<{ seq: string; hash: Buffer }>(
    runner,
    `SELECT seq::text AS seq, hash FROM audit_chain.head`,
  );
  const head = { seq: Number(heads[0]?.seq ?? 0), hash: heads[0]?.hash ?? GENESIS_HASH };
  const fromSeq = Math.max(1, options.fromSeq ?? 1);
  const toSeq = options.toSeq ?? head.seq;
  let expected = fromSeq;
  // From the start of the chain the predecessor is known; from elsewhere the first record's own link is trusted.
  let prev: Buffer | null = fromSeq === 1 ? GENESIS_HASH : null;
  let checked = 0;
  let skipped = 0;
  const fail = (fault: ChainFault): AuditChainVerification => ({ ok: false, checked, fromSeq, toSeq, fault });

  /** Moves `expected` past the retention anchors found there, while it is before `limit`. */
  const skipAnchors = async (limit: number): Promise<void> => {
    while (expected < limit) {
      const anchors = await select<Anchor>(
        runner,
        `SELECT first_seq::text AS first_seq, last_seq::text AS last_seq, last_hash FROM audit_chain.anchors
          WHERE first_seq <= $1 AND last_seq >= $1`,
        [expected],
      );
      const anchor = anchors[0];
      // Mid-run is only a valid place to be when the check started there.
      if (!anchor || (Number(anchor.first_seq) !== expected && prev !== null)) {
        return;
      }
      const lastSeq = Number(anchor.last_seq);
      skipped += lastSeq - expected + 1;
      expected = lastSeq + 1;
      prev = anchor.last_hash;
    }
  };

  while (expected <= toSeq) {
    const rows = await select<ChainRow>(runner, ROWS_SQL, [expected, toSeq, batchSize]);
    if (rows.length === 0) {
      await skipAnchors(toSeq + 1);
      if (expected <= toSeq) {
        return fail({ kind: 'removed', seq: expected, id: null, message: `no record at position ${expected}` });
      }
      break;
    }
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq < expected) {
        return fail({ kind: 'duplicate', seq, id: row.id, message: `a second record holds position ${seq}` });
      }
      if (seq > expected) {
        await skipAnchors(seq);
        if (seq !== expected) {
          return fail({
            kind: 'removed',
            seq: expected,
            id: null,
            message: `no record at position ${expected}; the next one is ${seq} (${row.id})`,
          });
        }
      }
      const recomputed = chainHash(row.prev_hash, canonicalText(toFields(row)));
      if (!recomputed.equals(row.chain_hash)) {
        return fail({ kind: 'altered', seq, id: row.id, message: `record ${row.id} does not match its hash` });
      }
      if (prev !== null && !row.prev_hash.equals(prev)) {
        const elsewhere = await select<{ seq: string }>(
          runner,
          `SELECT chain_seq::text AS seq FROM decisions WHERE chain_hash = $1 LIMIT 1`,
          [row.prev_hash],
        );
        const predecessorSeq = elsewhere[0] ? Number(elsewhere[0].seq) : undefined;

        return fail(
          predecessorSeq === undefined
            ? { kind: 'unlinked', seq, id: row.id, message: `the predecessor of record ${row.id} is missing` }
            : {
                kind: 'reordered',
                seq,
                id: row.id,
                predecessorSeq,
                message: `record ${row.id} follows the record at position ${predecessorSeq}, not ${seq - 1}`,
              },
        );
      }
      prev = row.chain_hash;
      expected = seq + 1;
      checked++;
    }
  }

  if (options.toSeq === undefined && prev !== null && head.seq >= fromSeq && !prev.equals(head.hash)) {
    return fail({ kind: 'head', seq: head.seq, id: null, message: 'the last record is not the chain head' });
  }

  return {
    ok: true,
    checked,
    fromSeq,
    toSeq,
    skippedByRetention: skipped,
    headHash: (prev ?? head.hash).toString('hex'),
  };
}

function toFields(row: ChainRow): Parameters<typeof canonicalText>[0] {
  return {
    id: row.id,
    decidedAt: row.decided_at,
    flow: row.flow,
    campaignId: row.campaign_id,
    actionId: row.action_id,
    seriesId: row.series_id,
    clearanceId: row.clearance_id,
    customerId: row.customer_id,
    isVisitor: row.is_visitor,
    allowed: row.allowed,
    mode: row.mode,
    policy: row.policy,
    reasonCodes: row.reason_codes,
    reasonsJson: row.reasons,
    checksJson: row.checks,
    latencyMs: row.latency_ms,
    recordedAt: row.recorded_at,
  };
}
