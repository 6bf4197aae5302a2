import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The reason index of `decisions` covers denials only: an approval has no reason code, and nobody searches for the
 * empty set (the audit API's reason filter names a code, and says `reason_codes <> '{}'` so that the planner may use
 * this index). Approvals, most rows in both flows, no longer add an entry to it. It no longer defers entries to a
 * pending list either (`fastupdate = off`): the list was merged by whichever insert found it full, which made that
 * decision's commit, and the gateway answer waiting on it, tens of milliseconds slower. Rebuilding the index locks
 * `decisions` against writes while it runs.
 */
export class DenialReasonIndex1765300000000 implements MigrationInterface {
  name = 'DenialReasonIndex1765300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX decisions_reason_codes_idx`);
    await queryRunner.query(`
      CREATE INDEX decisions_reason_codes_idx ON decisions USING gin (reason_codes) WITH (fastupdate = off)
        WHERE reason_codes <> '{}'::text[]`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX decisions_reason_codes_idx`);
    await queryRunner.query(`CREATE INDEX decisions_reason_codes_idx ON decisions USING gin (reason_codes)`);
  }
}
