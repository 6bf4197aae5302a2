import { DecisionReader } from '@app/audit';
import { applyMigrations, connectWithRetry, createDataSource, DatabaseStartupError, MIGRATIONS } from '@app/database';
import { randomUUID } from 'node:crypto';
import { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const settings = (url: string) => ({
  url,
  poolMax: 4,
  acquireTimeoutMs: 5_000,
  statementTimeoutMs: 10_000,
  applicationName: 'database-spec',
});

async function insertDecision(dataSource: DataSource, id: string): Promise<void> {
  await dataSource.query(
    `INSERT INTO decisions (id, decided_at, flow, campaign_id, customer_id, allowed, mode, policy, reason_codes, reasons)
     VALUES ($1, now(), 'triggered', '42', 'C1', false, 'enforce', 'default', '{VISITOR}', '[{"code":"VISITOR"}]')`,
    [id],
  );
}

describe('database schema and migrations', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('database');
    dataSource = await connectWithRetry(settings(database.url), 5_000);
    await applyMigrations(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('should apply every migration and then have none pending', async () => {
    const applied: { name: string }[] = await dataSource.query(`SELECT name FROM schema_migrations ORDER BY id`);

    expect(applied.map((row) => row.name)).toEqual(MIGRATIONS.map((migration) => new migration().name));
    expect(await dataSource.showMigrations()).toBe(false);
    expect(await applyMigrations(dataSource)).toEqual([]);
  });

  it('should create the tables of the whole product', async () => {
    const rows: { table_name: string }[] = await dataSource.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE 'decisions_%'`,
    );

    expect(rows.map((row) => row.table_name).sort()).toEqual(
      [
        'clearance_customers',
        'clearance_slices',
        'clearances',
        'decisions',
        'notifications',
        'optimove_reports',
        'promo_activations',
        'schema_migrations',
        'scheduled_task_runs',
      ].sort(),
    );
  });

  it('should refuse to UPDATE a committed decision', async () => {
    const id = randomUUID();
    await insertDecision(dataSource, id);

    await expect(dataSource.query(`UPDATE decisions SET allowed = true WHERE id = $1`, [id])).rejects.toThrow(
      /append-only: UPDATE of a committed decision is refused/,
    );
    const rows: { allowed: boolean }[] = await dataSource.query(`SELECT allowed FROM decisions WHERE id = $1`, [id]);
    expect(rows).toEqual([{ allowed: false }]);
  });

  it('should refuse to DELETE a committed decision, even through its partition', async () => {
    const id = randomUUID();
    await insertDecision(dataSource, id);
    const [{ partition }]: { partition: string }[] = await dataSource.query(
      `SELECT tableoid::regclass::text AS partition FROM decisions WHERE id = $1`,
      [id],
    );

    await expect(dataSource.query(`DELETE FROM decisions WHERE id = $1`, [id])).rejects.toThrow(
      /DELETE of a committed/,
    );
    await expect(dataSource.query(`DELETE FROM ${partition} WHERE id = $1`, [id])).rejects.toThrow(/append-only/);
    const rows: unknown[] = await dataSource.query(`SELECT 1 FROM decisions WHERE id = $1`, [id]);
    expect(rows).toHaveLength(1);
  });

  it('should store a decision of the current month in its monthly partition, not the default one', async () => {
    const id = randomUUID();
    await insertDecision(dataSource, id);
    const [{ partition }]: { partition: string }[] = await dataSource.query(
      `SELECT tableoid::regclass::text AS partition FROM decisions WHERE id = $1`,
      [id],
    );

    expect(partition).toMatch(/^decisions_\d{4}_\d{2}$/);
  });

  it('should index the reasons of denials only, for a query that states the index condition', async () => {
    await insertDecision(dataSource, randomUUID());
    await dataSource.query(
      `INSERT INTO decisions (id, decided_at, flow, campaign_id, customer_id, allowed, mode, policy, reason_codes,
                              reasons)
       VALUES ($1, now(), 'triggered', '42', 'C2', true, 'enforce', 'default', '{}', '[]')`,
      [randomUUID()],
    );
    const plan = (where: string, parameters: unknown[] = []) =>
      dataSource.transaction(async (manager) => {
        await manager.query(`SET LOCAL enable_seqscan = off`);
        const rows: { 'QUERY PLAN': unknown }[] = await manager.query(
          `EXPLAIN (FORMAT JSON) SELECT d.id FROM decisions d ${where}`,
          parameters,
        );

        return JSON.stringify(rows[0]['QUERY PLAN']);
      });
    // The audit API's reader, its statements seen on their way to the database.
    const statements: { sql: string; parameters: unknown[] }[] = [];
    const seen = Object.create(dataSource, {
      query: {
        value: (sql: string, parameters: unknown[]) => {
          statements.push({ sql, parameters });

          return dataSource.query(sql, parameters);
        },
      },
    }) as DataSource;
    const [index]: { definition: string }[] = await dataSource.query(
      `SELECT pg_get_indexdef('decisions_reason_codes_idx'::regclass) AS definition`,
    );

    const page = await new DecisionReader(seen).page({ reason: 'VISITOR', limit: 10 });
    const [statement] = statements;
    // Its filter, without the keyset's ORDER BY and LIMIT (whose index the planner would otherwise prefer).
    const from = statement.sql.lastIndexOf('FROM decisions d');
    const where = statement.sql.slice(statement.sql.indexOf('WHERE', from), statement.sql.lastIndexOf('ORDER BY'));

    expect(index.definition).toContain(`WHERE (reason_codes <> '{}'::text[])`);
    expect(page.items.length).toBeGreaterThanOrEqual(1);
    expect(page.items.every((item) => item.reasons.some((reason) => reason.code === 'VISITOR'))).toBe(true);
    // The reader's reason filter reaches the partitions' reason indexes; without the index's own condition, which it
    // states, the planner could not use them.
    expect(await plan(where, statement.parameters.slice(0, -1))).toMatch(/reason_codes_idx/);
    expect(await plan(`WHERE d.reason_codes @> ARRAY['VISITOR']::text[]`)).not.toMatch(/reason_codes_idx/);
  });

  it('should treat the same campaign and deadline as one clearance', async () => {
    const insert = `INSERT INTO clearances (campaign_id, clearance_required_by, report_by, decide_by, source)
                    VALUES ('77', '2026-12-03T12:00:00Z', '2026-12-03T11:59:00Z', '2026-12-03T11:58:00Z', 'optimove')`;
    await dataSource.query(insert);

    await expect(dataSource.query(insert)).rejects.toThrow(/clearances_occurrence_uq/);
  });
});

describe('applyMigrations', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('migrations');
  });

  afterAll(async () => {
    await database.drop();
  });

  it('should roll back a failing migration whole and report it', async () => {
    class Broken9999999999999 implements MigrationInterface {
      name = 'Broken9999999999999';

      async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE half_applied (id int)`);
        await queryRunner.query(`SELECT * FROM table_that_does_not_exist`);
      }

      async down(): Promise<void> {}
    }
    const dataSource = await createDataSource(settings(database.url), [
      ...MIGRATIONS,
      Broken9999999999999,
    ]).initialize();
    try {
      await expect(applyMigrations(dataSource)).rejects.toThrow(DatabaseStartupError);

      const halfApplied: unknown[] = await dataSource.query(`SELECT to_regclass('half_applied') AS t`);
      expect(halfApplied).toEqual([{ t: null }]);
      const recorded: { name: string }[] = await dataSource.query(`SELECT name FROM schema_migrations`);
      expect(recorded.map((row) => row.name)).not.toContain('Broken9999999999999');
    } finally {
      await dataSource.destroy();
    }
  });

  it('should apply migrations once when two replicas start together', async () => {
    const fresh = await createTestDatabase('migrations_race');
    const replicas = await Promise.all([1, 2].map(() => connectWithRetry(settings(fresh.url), 5_000)));
    try {
      const results = await Promise.all(replicas.map((replica) => applyMigrations(replica)));

      expect(results.flat()).toHaveLength(MIGRATIONS.length);
      const [{ count }]: { count: string }[] = await replicas[0].query(`SELECT count(*) FROM schema_migrations`);
      expect(Number(count)).toBe(MIGRATIONS.length);
    } finally {
      await Promise.all(replicas.map((replica) => replica.destroy()));
      await fresh.drop();
    }
  });
});

describe('connectWithRetry', () => {
  it('should give up on an unreachable database after the start-up timeout with a clear error', async () => {
    const started = Date.now();

    const failure = connectWithRetry(settings('postgres://postgres:hunter2@127.0.0.1:1/none'), 1_000);

    await expect(failure).rejects.toThrow(/database at 127\.0\.0\.1:1\/none is unreachable after \d+ attempt/);
    await expect(failure).rejects.not.toThrow(/hunter2/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
