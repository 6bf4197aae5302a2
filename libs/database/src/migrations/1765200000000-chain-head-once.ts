import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit chain's head is written back by a deferred trigger; it used to be queued for every row inserted, and
 * every event but the first of a transaction found nothing to do (measured: about 9 µs a row, a sixth of a
 * decision's insert). The link trigger now names the first row it chains after the head was last written, and the
 * deferred trigger is queued for that row only (a WHEN condition: two cheap function calls a row instead of an event).
 * The name carries the transaction id, as `audit_chain.state` does, so that a value left by a session-level SET
 * names nothing. The head trigger clears the name when it writes the head, so that with `SET CONSTRAINTS ...
 * IMMEDIATE` (the event then fires at the end of each statement) the next statement's first row queues it again.
 */
export class ChainHeadOnce1765200000000 implements MigrationInterface {
  name = 'ChainHeadOnce1765200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(linkFunction(true));
    await queryRunner.query(storeFunction(true));
    await queryRunner.query(`DROP TRIGGER decisions_chain_head ON decisions`);
    await queryRunner.query(`
      CREATE CONSTRAINT TRIGGER decisions_chain_head AFTER INSERT ON decisions
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        WHEN (current_setting('audit_chain.first', true) = pg_current_xact_id()::text || ':' || NEW.id::text)
        EXECUTE FUNCTION audit_chain.store_head()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER decisions_chain_head ON decisions`);
    await queryRunner.query(`
      CREATE CONSTRAINT TRIGGER decisions_chain_head AFTER INSERT ON decisions
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_chain.store_head()`);
    await queryRunner.query(storeFunction(false));
    await queryRunner.query(linkFunction(false));
  }
}

/**
 * `audit_chain.link_decision`, as the audit-chain migration wrote it, plus (when `nameFirst`) the name of the first row
 * chained since the head was written: `<transaction id>:<decision id>`.
 */
function linkFunction(nameFirst: boolean): string {
  const first = nameFirst
    ? `
        IF split_part(coalesce(current_setting('audit_chain.first', true), ''), ':', 1) <> tx THEN
          PERFORM set_config('audit_chain.first', tx || ':' || NEW.id::text, true);
        END IF;`
    : '';

  return `
      CREATE OR REPLACE FUNCTION audit_chain.link_decision() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        state text := current_setting('audit_chain.state', true);
        tx text := pg_current_xact_id()::text;
        head_seq bigint;
        head_hash bytea;
      BEGIN
        IF state IS NOT NULL AND split_part(state, ':', 1) = tx THEN
          head_seq := split_part(state, ':', 2)::bigint;
          head_hash := decode(split_part(state, ':', 3), 'hex');
        ELSE
          SELECT h.seq, h.hash INTO STRICT head_seq, head_hash FROM audit_chain.head h FOR UPDATE;
        END IF;
        NEW.chain_seq := head_seq + 1;
        NEW.prev_hash := head_hash;
        NEW.chain_hash := sha256(head_hash || convert_to(audit_chain.canonical_text(
          NEW.id, NEW.decided_at, NEW.flow, NEW.campaign_id, NEW.action_id, NEW.series_id, NEW.clearance_id,
          NEW.customer_id, NEW.is_visitor, NEW.allowed, NEW.mode, NEW.policy, NEW.reason_codes, NEW.reasons,
          NEW.checks, NEW.latency_ms, NEW.recorded_at), 'UTF8'));
        PERFORM set_config('audit_chain.state',
          tx || ':' || NEW.chain_seq || ':' || encode(NEW.chain_hash, 'hex'), true);${first}
        RETURN NEW;
      END $$`;
}

/** `audit_chain.store_head`, as the audit-chain migration wrote it, plus (when `clearFirst`) clearing the name. */
export function storeFunction(clearFirst: boolean): string {
  const clear = clearFirst ? `\n          PERFORM set_config('audit_chain.first', '', true);` : '';

  return `
      CREATE OR REPLACE FUNCTION audit_chain.store_head() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        state text := current_setting('audit_chain.state', true);
      BEGIN
        IF state IS NOT NULL AND state <> '' AND state IS DISTINCT FROM current_setting('audit_chain.stored', true)
           AND split_part(state, ':', 1) = pg_current_xact_id()::text THEN
          UPDATE audit_chain.head
             SET seq = split_part(state, ':', 2)::bigint, hash = decode(split_part(state, ':', 3), 'hex');
          PERFORM set_config('audit_chain.stored', state, true);
        END IF;${clear}
        RETURN NULL;
      END $$`;
}
