import { AuditWriter, canonicalText, insertDecisions, verifyAuditChain } from '@app/audit';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { makeDecision, openMigrated } from '../decisions/support/decisions';
import { createTestDatabase, TestDatabase } from '../support/test-database';

/** The chain positions of the given decisions, in chain order. */
async function positions(dataSource: DataSource): Promise<number[]> {
  const rows: { seq: string }[] = await dataSource.query(
    `SELECT chain_seq::text AS seq FROM decisions ORDER BY 1::int`,
  );

  return rows.map((row) => Number(row.seq)).sort((a, b) => a - b);
}

describe('audit hash chain', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let second: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('audit_chain');
    dataSource = await openMigrated(database.url);
    second = await openMigrated(database.url);
  });

  afterAll(async () => {
    await second?.destroy();
    await dataSource?.destroy();
    await database?.drop();
  });

  it('should keep one continuous chain over every insert path, from two data sources at once', async () => {
    const writerA = new AuditWriter(dataSource, { maxDelayMs: 1 });
    const writerB = new AuditWriter(second, { maxDelayMs: 1 });
    const clearanceId = randomUUID();
    const viaWriters = Array.from({ length: 400 }, (_, n) =>
      (n % 2 ? writerA : writerB).record([makeDecision({ customerId: `W${n}` })]),
    );
    const inTransactions = Array.from({ length: 20 }, (_, n) =>
      (n % 2 ? dataSource : second).transaction(async (manager) => {
        await insertDecisions(manager, [
          makeDecision({ customerId: `T${n}a` }),
          makeDecision({ customerId: `T${n}b` }),
        ]);
        await manager.query(`SELECT pg_sleep(0.005)`);
        await insertDecisions(manager, [makeDecision({ customerId: `T${n}c` })]);
      }),
    );
    const plainSelects = Array.from({ length: 10 }, (_, n) =>
      (n % 2 ? dataSource : second).query(
        `INSERT INTO decisions (id, decided_at, flow, campaign_id, clearance_id, customer_id, allowed, mode, policy,
                                reason_codes, reasons, checks, latency_ms)
         SELECT gen_random_uuid(), now(), 'scheduled', '42', $1, 'S' || $2 || '-' || g, false, 'enforce', 'default',
                ARRAY['DEADLINE_EXCEEDED'], '[{"code": "DEADLINE_EXCEEDED", "message": "too late"}]', '[]', 0
           FROM generate_series(1, 25) g`,
        [clearanceId, n],
      ),
    );
    const partitions: { name: string }[] = await dataSource.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'decisions'::regclass AND pg_get_expr(c.relpartbound, c.oid) LIKE $1`,
      [`%FROM ('${new Date().toISOString().slice(0, 7)}-01%`],
    );
    const direct = second.query(
      `INSERT INTO "${partitions[0].name}" (id, decided_at, flow, customer_id, allowed, mode, policy)
       VALUES (gen_random_uuid(), now(), 'triggered', 'P1', true, 'enforce', 'default')`,
    );

    await Promise.all([...viaWriters, ...inTransactions, ...plainSelects, direct]);
    await Promise.all([writerA.close(), writerB.close()]);

    const total = 400 + 20 * 3 + 10 * 25 + 1;
    expect(await positions(dataSource)).toEqual(Array.from({ length: total }, (_, n) => n + 1));
    const [head]: { seq: string }[] = await dataSource.query(`SELECT seq::text AS seq FROM audit_chain.head`);
    expect(Number(head.seq)).toBe(total);
    expect(await verifyAuditChain(second, { batchSize: 97 })).toMatchObject({ ok: true, checked: total });
  });

  it('should write the head once at commit, or once a statement when the head trigger is immediate', async () => {
    const head = async (queryable: DataSource | EntityManager): Promise<number> => {
      const [row]: { seq: string }[] = await queryable.query(`SELECT seq::text AS seq FROM audit_chain.head`);

      return Number(row.seq);
    };
    const before = await head(dataSource);
    const deferred: number[] = [];
    // This transaction's calls of the head trigger's function, counted with `track_functions` (a superuser setting;
    // tests run as one).
    const headCalls = async (manager: EntityManager): Promise<number> => {
      const [calls]: { n: string | null }[] = await manager.query(
        `SELECT pg_stat_get_xact_function_calls('audit_chain.store_head'::regproc)::text AS n`,
      );

      return Number(calls.n);
    };
    const immediate: number[] = [];

    let deferredHeadWrites: number | null = null;
    await dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL track_functions = 'pl'`);
      await insertDecisions(
        manager,
        Array.from({ length: 30 }, (_, n) => makeDecision({ customerId: `D${n}` })),
      );
      await insertDecisions(manager, [makeDecision({ customerId: 'D30' })]);
      deferred.push(await head(manager));
      // Fires what was queued for commit now, so that this transaction can count it.
      await manager.query(`SET CONSTRAINTS ALL IMMEDIATE`);
      deferredHeadWrites = await headCalls(manager);
    });
    const committed = await head(dataSource);
    let headWrites: number | null = null;
    await second.transaction(async (manager) => {
      await manager.query(`SET CONSTRAINTS ALL IMMEDIATE`);
      await manager.query(`SET LOCAL track_functions = 'pl'`);
      // A name left by a session-level SET (no transaction id in it) must not keep the first row from being named.
      await manager.query(`SELECT set_config('audit_chain.first', 'left-over', true)`);
      await insertDecisions(manager, [makeDecision({ customerId: 'I1' }), makeDecision({ customerId: 'I2' })]);
      immediate.push(await head(manager));
      // The second statement's first row queues the head trigger again.
      await insertDecisions(manager, [makeDecision({ customerId: 'I3' })]);
      immediate.push(await head(manager));
      headWrites = await headCalls(manager);
    });

    expect(deferred).toEqual([before]);
    // Once a transaction, for 31 rows.
    expect(deferredHeadWrites).toBe(1);
    expect(committed).toBe(before + 31);
    expect(immediate).toEqual([before + 33, before + 34]);
    // Once a statement here, not once a row.
    expect(headWrites).toBe(2);
    expect(await head(dataSource)).toBe(before + 34);
    expect(await verifyAuditChain(dataSource, { batchSize: 50 })).toMatchObject({ ok: true });
  });

  it('should reproduce the database canonical text outside the database', async () => {
    const tricky = makeDecision({
      customerId: 'quote " backslash \\ newline \n tab \t bell \u0007 é 😀',
      campaignId: null,
      actionId: null,
      reasons: [{ code: 'COMPLIANCE_KYC', message: 'zz "1.50" \u001f' }],
      checks: [{ name: 'profile', outcome: 'pass', durationMs: 1.5 }],
      latencyMs: 12.6,
    });
    await insertDecisions(dataSource, [tricky]);

    const [row]: Record<string, unknown>[] = await dataSource.query(
      `SELECT audit_chain.canonical_text(id, decided_at, flow, campaign_id, action_id, series_id, clearance_id,
              customer_id, is_visitor, allowed, mode, policy, reason_codes, reasons, checks, latency_ms, recorded_at)
                AS canonical,
              to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at,
              to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS decided_at,
              reasons::text AS reasons, checks::text AS checks,
              encode(chain_hash, 'hex') AS chain_hash,
              encode(sha256(prev_hash || convert_to(audit_chain.canonical_text(id, decided_at, flow, campaign_id,
                action_id, series_id, clearance_id, customer_id, is_visitor, allowed, mode, policy, reason_codes,
                reasons, checks, latency_ms, recorded_at), 'UTF8')), 'hex') AS recomputed
         FROM decisions WHERE id = $1`,
      [tricky.id],
    );
    await dataSource.query(`SET TIME ZONE 'Pacific/Chatham'`);

    expect(
      canonicalText({
        id: tricky.id,
        decidedAt: row.decided_at as string,
        flow: tricky.flow,
        campaignId: null,
        actionId: null,
        seriesId: null,
        clearanceId: tricky.clearanceId,
        customerId: tricky.customerId,
        isVisitor: false,
        allowed: true,
        mode: 'enforce',
        policy: 'default',
        reasonCodes: ['COMPLIANCE_KYC'],
        reasonsJson: row.reasons as string,
        checksJson: row.checks as string,
        latencyMs: 13,
        recordedAt: row.recorded_at as string,
      }),
    ).toBe(row.canonical);
    expect(row.recomputed).toBe(row.chain_hash);
    await dataSource.query(`RESET TIME ZONE`);
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true });
  });

  it('should plan the head write once a connection, not at every commit', async () => {
    const client = new Client({ connectionString: database.url });
    const plans: string[] = [];
    client.on('notice', (notice) => {
      if (notice.message?.includes('UPDATE audit_chain.head')) {
        plans.push(notice.message);
      }
    });
    await client.connect();
    try {
      // auto_explain sends this session the plan of every statement the triggers run, as a notice (superuser
      // settings; tests run as one). Each insert below commits on its own, so each writes the head.
      await client.query(`LOAD 'auto_explain'`);
      await client.query(`SET auto_explain.log_min_duration = 0`);
      await client.query(`SET auto_explain.log_nested_statements = on`);
      await client.query(`SET auto_explain.log_verbose = on`);
      await client.query(`SET auto_explain.log_level = 'notice'`);
      for (let n = 0; n < 8; n++) {
        await insertDecisions(client, [makeDecision({ customerId: `G${n}` })]);
      }
    } finally {
      await client.end();
    }

    expect(plans).toHaveLength(8);
    // A generic plan keeps the new head as parameters; a plan made for the call prints its values as constants.
    // PostgreSQL weighs the generic plan after five calls.
    expect(plans.map((plan) => /Output: \$\d/.test(plan))).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});
