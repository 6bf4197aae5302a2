import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Decided and reported state moves from each customer to the slice that holds it. A slice's decisions commit
 * together, so the slice says what its customers' rows used to say one by one: `state = 'done'` means decided, its
 * `approved_ids` are the approvals to report, its `report_id` the report that carried them. A report keeps the
 * customer ids it sends. The customers' table becomes insert-only: three updates per customer (decided, taken into a
 * report, reported) and the five index entries each of them wrote are gone, and so is a scan of the whole clearance
 * per report sent.
 *
 * Clearances in flight are carried over: each report gets the customers that pointed at it, each decided slice the
 * approvals not yet taken into a report, and a slice whose approvals were all taken points at the latest report that
 * took one of them.
 */
export class SliceReporting1765000000000 implements MigrationInterface {
  name = 'SliceReporting1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE clearance_slices
        ADD COLUMN approved_ids text[] NOT NULL DEFAULT '{}',
        ADD COLUMN report_id bigint REFERENCES optimove_reports (id)`);
    await queryRunner.query(`ALTER TABLE optimove_reports ADD COLUMN customer_ids text[] NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE clearance_customers ADD COLUMN slice_no integer`);

    await queryRunner.query(`
      UPDATE clearance_customers cc SET slice_no = s.slice_no
        FROM clearance_slices s
       WHERE s.clearance_id = cc.clearance_id AND cc.seq BETWEEN s.first_seq AND s.last_seq`);
    await queryRunner.query(`
      UPDATE optimove_reports r
         SET customer_ids = coalesce((SELECT array_agg(cc.customer_id ORDER BY cc.seq) FROM clearance_customers cc
                                       WHERE cc.clearance_id = r.clearance_id AND cc.report_id = r.id), '{}')`);
    await queryRunner.query(`
      UPDATE clearance_slices s
         SET approved_ids = coalesce(
               (SELECT array_agg(cc.customer_id ORDER BY cc.seq) FROM clearance_customers cc
                 WHERE cc.clearance_id = s.clearance_id AND cc.slice_no = s.slice_no
                   AND cc.allowed AND cc.report_id IS NULL), '{}'),
             report_id = (SELECT max(cc.report_id) FROM clearance_customers cc
                           WHERE cc.clearance_id = s.clearance_id AND cc.slice_no = s.slice_no)
       WHERE s.state = 'done'`);
    // A slice with approvals still to send waits for a report of its own, even if some of its approvals were sent.
    await queryRunner.query(`UPDATE clearance_slices SET report_id = NULL WHERE cardinality(approved_ids) > 0`);
    await queryRunner.query(`ALTER TABLE clearance_customers ALTER COLUMN slice_no SET NOT NULL`);

    await queryRunner.query(`DROP INDEX clearance_customers_pending_idx`);
    await queryRunner.query(`DROP INDEX clearance_customers_unreported_idx`);
    await queryRunner.query(`DROP INDEX clearance_customers_decision_idx`);
    await queryRunner.query(`
      ALTER TABLE clearance_customers
        DROP CONSTRAINT clearance_customers_decided_ck,
        DROP COLUMN state, DROP COLUMN allowed, DROP COLUMN decision_id, DROP COLUMN decided_at,
        DROP COLUMN report_id, DROP COLUMN reported_at`);
    await queryRunner.query(`
      CREATE INDEX clearance_slices_unreported_idx ON clearance_slices (clearance_id, slice_no)
        WHERE state = 'done' AND report_id IS NULL AND cardinality(approved_ids) > 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX clearance_slices_unreported_idx`);
    await queryRunner.query(`
      ALTER TABLE clearance_customers
        ADD COLUMN state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'decided')),
        ADD COLUMN allowed boolean, ADD COLUMN decision_id uuid, ADD COLUMN decided_at timestamptz,
        ADD COLUMN report_id bigint REFERENCES optimove_reports (id), ADD COLUMN reported_at timestamptz`);
    // Decided customers get their decision back from the audit; reports give back who they carried.
    await queryRunner.query(`
      UPDATE clearance_customers cc
         SET state = 'decided', allowed = d.allowed, decision_id = d.id, decided_at = d.decided_at
        FROM decisions d
       WHERE d.clearance_id = cc.clearance_id AND d.customer_id = cc.customer_id`);
    await queryRunner.query(`
      UPDATE clearance_customers cc SET report_id = r.id, reported_at = r.sent_at
        FROM optimove_reports r
       WHERE r.clearance_id = cc.clearance_id AND cc.customer_id = ANY (r.customer_ids)`);
    await queryRunner.query(`
      ALTER TABLE clearance_customers ADD CONSTRAINT clearance_customers_decided_ck
        CHECK ((state = 'decided') = (allowed IS NOT NULL AND decision_id IS NOT NULL))`);
    await queryRunner.query(`CREATE INDEX clearance_customers_decision_idx ON clearance_customers (decision_id)`);
    await queryRunner.query(`
      CREATE INDEX clearance_customers_unreported_idx ON clearance_customers (clearance_id, seq)
        WHERE allowed AND report_id IS NULL`);
    await queryRunner.query(`
      CREATE INDEX clearance_customers_pending_idx ON clearance_customers (clearance_id, seq)
        WHERE state = 'pending'`);
    await queryRunner.query(`ALTER TABLE clearance_customers DROP COLUMN slice_no`);
    await queryRunner.query(`ALTER TABLE optimove_reports DROP COLUMN customer_ids`);
    await queryRunner.query(`ALTER TABLE clearance_slices DROP COLUMN report_id, DROP COLUMN approved_ids`);
  }
}
