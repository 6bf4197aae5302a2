import { applyMigrations, createDataSource, MIGRATIONS } from '@app/database';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const settings = (url: string) => ({
  url,
  poolMax: 2,
  acquireTimeoutMs: 5_000,
  statementTimeoutMs: 10_000,
  applicationName: 'slice-reporting-migration-spec',
});

/**
 * A clearance in flight when the slice-reporting migration runs: decided per customer, partly reported, one report
 * still pending. After the migration its slices and reports must say the same thing.
 */
describe('migration to slice reporting', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('slice_migration');
    const before = createDataSource(
      settings(database.url),
      MIGRATIONS.slice(
        0,
        MIGRATIONS.findIndex((migration) => migration.name === 'SliceReporting1765000000000'),
      ),
    );
    await before.initialize();
    await applyMigrations(before);
    const [clearance] = await before.query(
      `INSERT INTO clearances (campaign_id, clearance_required_by, report_by, decide_by, source, status, total)
       VALUES ('77', now() + interval '1 hour', now() + interval '1 hour', now() + interval '1 hour', 'admin',
               'deciding', 6) RETURNING id`,
    );
    const id = clearance.id as string;
    // Slice 0 (C1-C3) decided, C1 and C2 approved; slice 1 (C4-C6) decided, C4 approved; slice 2 (C7) pending.
    await before.query(
      `INSERT INTO clearance_slices (clearance_id, slice_no, first_seq, last_seq, state)
       VALUES ($1, 0, 1, 3, 'done'), ($1, 1, 4, 6, 'done'), ($1, 2, 7, 7, 'pending')`,
      [id],
    );
    const [sent] = await before.query(
      `INSERT INTO optimove_reports (clearance_id, campaign_id, customer_count, state, sent_at)
       VALUES ($1, '77', 2, 'sent', now() - interval '1 minute') RETURNING id`,
      [id],
    );
    await before.query(
      `INSERT INTO clearance_customers (clearance_id, seq, customer_id, state, allowed, decision_id, decided_at,
                                        report_id, reported_at)
       SELECT $1, s, 'C' || s, CASE WHEN s < 7 THEN 'decided' ELSE 'pending' END,
              CASE WHEN s < 7 THEN s IN (1, 2, 4) END, CASE WHEN s < 7 THEN gen_random_uuid() END,
              CASE WHEN s < 7 THEN now() END,
              CASE WHEN s IN (1, 2) THEN $2::bigint END, CASE WHEN s IN (1, 2) THEN now() - interval '1 minute' END
         FROM generate_series(1, 7) AS s`,
      [id, sent.id],
    );
    await before.destroy();

    dataSource = createDataSource(settings(database.url), MIGRATIONS);
    await dataSource.initialize();
    await applyMigrations(dataSource);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it('should keep what was reported reported, and leave the rest for a report', async () => {
    const slices: { slice_no: number; approved_ids: string[]; reported: boolean }[] = await dataSource.query(
      `SELECT slice_no, approved_ids, report_id IS NOT NULL AS reported FROM clearance_slices ORDER BY slice_no`,
    );
    const reports: { customer_ids: string[] }[] = await dataSource.query(`SELECT customer_ids FROM optimove_reports`);
    const customers: { customer_id: string; slice_no: number }[] = await dataSource.query(
      `SELECT customer_id, slice_no FROM clearance_customers ORDER BY seq`,
    );

    expect(slices).toEqual([
      { slice_no: 0, approved_ids: [], reported: true },
      { slice_no: 1, approved_ids: ['C4'], reported: false },
      { slice_no: 2, approved_ids: [], reported: false },
    ]);
    expect(reports).toEqual([{ customer_ids: ['C1', 'C2'] }]);
    expect(customers.map((row) => row.slice_no)).toEqual([0, 0, 0, 1, 1, 1, 2]);
  });
});
