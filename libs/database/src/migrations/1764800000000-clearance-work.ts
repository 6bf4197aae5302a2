import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the scheduled flow needs beyond the initial schema: the decision cut-off of each clearance, leases on the
 * reports sent to Optimove (so that a report whose sender died is sent again by another replica), and an index
 * of the customers still to decide.
 */
export class ClearanceWork1764800000000 implements MigrationInterface {
  name = 'ClearanceWork1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE clearances ADD COLUMN decide_by timestamptz`);
    await queryRunner.query(`UPDATE clearances SET decide_by = report_by`);
    await queryRunner.query(`ALTER TABLE clearances ALTER COLUMN decide_by SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE optimove_reports ADD COLUMN lease_owner text`);
    await queryRunner.query(`ALTER TABLE optimove_reports ADD COLUMN lease_expires_at timestamptz`);
    await queryRunner.query(
      `CREATE INDEX optimove_reports_pending_idx ON optimove_reports (id) WHERE state = 'pending'`,
    );
    await queryRunner.query(`
      CREATE INDEX clearance_customers_pending_idx ON clearance_customers (clearance_id, seq)
        WHERE state = 'pending'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX clearance_customers_pending_idx`);
    await queryRunner.query(`DROP INDEX optimove_reports_pending_idx`);
    await queryRunner.query(`ALTER TABLE optimove_reports DROP COLUMN lease_expires_at`);
    await queryRunner.query(`ALTER TABLE optimove_reports DROP COLUMN lease_owner`);
    await queryRunner.query(`ALTER TABLE clearances DROP COLUMN decide_by`);
  }
}
