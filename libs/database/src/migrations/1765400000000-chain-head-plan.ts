import { MigrationInterface, QueryRunner } from 'typeorm';
import { storeFunction } from './1765200000000-chain-head-once';

/**
 * The audit chain's head is written by `audit_chain.store_head`, once a transaction. Its UPDATE used to compute the
 * new values from the function's text variable inside the statement, over a table without a WHERE clause. PL/pgSQL
 * passes the variable as a parameter, and PostgreSQL weighs a custom plan (the values folded to constants) against
 * the generic one (the parsing evaluated once per row of a table it has never analysed, so guessed at thousands of
 * rows): the custom plan always looked cheaper, so every commit of decisions planned the UPDATE again (measured with
 * pg_stat_statements: one plan a call, 0.05 ms each, more than the update itself). The values are now parsed into
 * variables first and the row is named by its key: the generic plan is chosen after five calls, as for any statement.
 */
export class ChainHeadPlan1765400000000 implements MigrationInterface {
  name = 'ChainHeadPlan1765400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_chain.store_head() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        state text := current_setting('audit_chain.state', true);
        head_seq bigint;
        head_hash bytea;
      BEGIN
        IF state IS NOT NULL AND state <> '' AND state IS DISTINCT FROM current_setting('audit_chain.stored', true)
           AND split_part(state, ':', 1) = pg_current_xact_id()::text THEN
          head_seq := split_part(state, ':', 2)::bigint;
          head_hash := decode(split_part(state, ':', 3), 'hex');
          UPDATE audit_chain.head SET seq = head_seq, hash = head_hash WHERE singleton;
          PERFORM set_config('audit_chain.stored', state, true);
        END IF;
        PERFORM set_config('audit_chain.first', '', true);
        RETURN NULL;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(storeFunction(true));
  }
}
