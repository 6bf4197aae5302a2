import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tamper evidence for `decisions`: every row is chained to the one committed before it by
 * `chain_hash = sha256(prev_hash || utf8(canonical text of the row))`, assigned by a BEFORE INSERT row trigger that
 * holds the one-row chain head locked until commit, so that every insert path (the writer, a flow's own
 * transaction, a plain INSERT ... SELECT, even a direct insert into a partition) extends one unforked chain.
 *
 * Also: anchors that keep the chain verifiable after retention drops old partitions, a SECURITY DEFINER function
 * that drops them (never a row-by-row DELETE), and a function granting an application role what it needs without
 * UPDATE, DELETE or TRUNCATE on the audit. The chain's objects live in schema `audit_chain`.
 */
export class AuditChain1764900000000 implements MigrationInterface {
  name = 'AuditChain1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE SCHEMA audit_chain`);
    await queryRunner.query(`ALTER TABLE decisions ADD COLUMN chain_seq bigint`);
    await queryRunner.query(`ALTER TABLE decisions ADD COLUMN prev_hash bytea`);
    await queryRunner.query(`ALTER TABLE decisions ADD COLUMN chain_hash bytea`);

    await queryRunner.query(`
      CREATE TABLE audit_chain.head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq bigint NOT NULL,
        hash bytea NOT NULL CHECK (length(hash) = 32)
      )`);
    await queryRunner.query(`INSERT INTO audit_chain.head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'))`);

    // One row per maximal run of consecutive chain positions removed by retention: the verifier skips the run and
    // continues from last_hash.
    await queryRunner.query(`
      CREATE TABLE audit_chain.anchors (
        first_seq bigint PRIMARY KEY,
        last_seq bigint NOT NULL CHECK (last_seq >= first_seq),
        last_hash bytea NOT NULL CHECK (length(last_hash) = 32),
        row_count bigint NOT NULL,
        partition_name text NOT NULL,
        range_from timestamptz,
        range_to timestamptz,
        dropped_at timestamptz NOT NULL DEFAULT now()
      )`);

    // The canonical text: a JSON array of the audited columns in a fixed order, led by the format version, as
    // PostgreSQL's json_build_array prints it (times as UTC text with microseconds, so that the session's TimeZone
    // cannot change it; jsonb columns as their canonical jsonb text). docs/audit-integrity.md specifies it.
    await queryRunner.query(`
      CREATE FUNCTION audit_chain.canonical_text(
        id uuid, decided_at timestamptz, flow text, campaign_id text, action_id text, series_id text,
        clearance_id uuid, customer_id text, is_visitor boolean, allowed boolean, mode text, policy text,
        reason_codes text[], reasons jsonb, checks jsonb, latency_ms integer, recorded_at timestamptz)
      RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT json_build_array(1, id, to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
          flow, campaign_id, action_id, series_id, clearance_id, customer_id, is_visitor, allowed, mode, policy,
          reason_codes, reasons, checks, latency_ms,
          to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
      $$`);

    // SECURITY DEFINER so that the application role needs no privilege on the head; every relation is qualified.
    // The running head is kept in a transaction-local setting tagged with the transaction id, so that only the
    // first row of a transaction reads (and locks) the head row; the lock is held to commit, which serialises
    // inserting transactions across replicas and makes chain order equal commit order.
    await queryRunner.query(`
      CREATE FUNCTION audit_chain.link_decision() RETURNS trigger
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
          tx || ':' || NEW.chain_seq || ':' || encode(NEW.chain_hash, 'hex'), true);
        RETURN NEW;
      END $$`);
    // Writes the running head back once per transaction, at commit (a deferred row trigger: unlike a statement
    // trigger on the parent, it also fires for rows inserted straight into a partition).
    await queryRunner.query(`
      CREATE FUNCTION audit_chain.store_head() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        state text := current_setting('audit_chain.state', true);
      BEGIN
        IF state IS NOT NULL AND state <> '' AND state IS DISTINCT FROM current_setting('audit_chain.stored', true)
           AND split_part(state, ':', 1) = pg_current_xact_id()::text THEN
          UPDATE audit_chain.head
             SET seq = split_part(state, ':', 2)::bigint, hash = decode(split_part(state, ':', 3), 'hex');
          PERFORM set_config('audit_chain.stored', state, true);
        END IF;
        RETURN NULL;
      END $$`);

    await this.chainExistingDecisions(queryRunner);

    await queryRunner.query(`ALTER TABLE decisions ALTER COLUMN chain_seq SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE decisions ALTER COLUMN prev_hash SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE decisions ALTER COLUMN chain_hash SET NOT NULL`);
    await queryRunner.query(`CREATE INDEX decisions_chain_seq_idx ON decisions (chain_seq)`);
    await queryRunner.query(`
      CREATE TRIGGER decisions_chain_link BEFORE INSERT ON decisions
        FOR EACH ROW EXECUTE FUNCTION audit_chain.link_decision()`);
    await queryRunner.query(`
      CREATE CONSTRAINT TRIGGER decisions_chain_head AFTER INSERT ON decisions
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_chain.store_head()`);

    await queryRunner.query(`
      CREATE FUNCTION audit_chain.refuse_change() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit chain anchors are append-only: % is refused', TG_OP USING ERRCODE = 'restrict_violation';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER anchors_append_only BEFORE UPDATE OR DELETE ON audit_chain.anchors
        FOR EACH ROW EXECUTE FUNCTION audit_chain.refuse_change()`);

    // Creating a partition needs the table's owner; the application role calls this at start-up.
    await queryRunner.query(
      `ALTER FUNCTION ensure_decision_partitions(date, integer) SECURITY DEFINER SET search_path = public, pg_temp`,
    );
    await this.createRetentionFunction(queryRunner);
    await this.createGrantFunction(queryRunner);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER IF EXISTS decisions_chain_head ON decisions`);
    await queryRunner.query(`DROP TRIGGER IF EXISTS decisions_chain_link ON decisions`);
    await queryRunner.query(`DROP INDEX IF EXISTS decisions_chain_seq_idx`);
    await queryRunner.query(`ALTER TABLE decisions DROP COLUMN chain_hash`);
    await queryRunner.query(`ALTER TABLE decisions DROP COLUMN prev_hash`);
    await queryRunner.query(`ALTER TABLE decisions DROP COLUMN chain_seq`);
    await queryRunner.query(`DROP SCHEMA audit_chain CASCADE`);
  }

  /** Decisions recorded before this migration join the chain in the order they were recorded. */
  private async chainExistingDecisions(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE decisions DISABLE TRIGGER decisions_append_only`);
    await queryRunner.query(`
      DO $$
      DECLARE
        d record;
        n bigint := 0;
        prev bytea := decode(repeat('00', 32), 'hex');
        next bytea;
      BEGIN
        FOR d IN SELECT * FROM decisions ORDER BY recorded_at, decided_at, id LOOP
          n := n + 1;
          next := sha256(prev || convert_to(audit_chain.canonical_text(
            d.id, d.decided_at, d.flow, d.campaign_id, d.action_id, d.series_id, d.clearance_id, d.customer_id,
            d.is_visitor, d.allowed, d.mode, d.policy, d.reason_codes, d.reasons, d.checks, d.latency_ms,
            d.recorded_at), 'UTF8'));
          UPDATE decisions SET chain_seq = n, prev_hash = prev, chain_hash = next
           WHERE id = d.id AND decided_at = d.decided_at;
          prev := next;
        END LOOP;
        UPDATE audit_chain.head SET seq = n, hash = prev;
      END $$`);
    await queryRunner.query(`ALTER TABLE decisions ENABLE TRIGGER decisions_append_only`);
  }

  /**
   * Drops every monthly partition wholly older than `retention_months` before the month of
   * `least(as_of, now())` (a caller can only make it keep more), recording an anchor for each run of chain
   * positions it removes. Callers serialise it with an advisory lock; it never deletes rows one by one.
   */
  private async createRetentionFunction(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION audit_chain.drop_expired_partitions(retention_months integer, as_of timestamptz)
      RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz, row_count bigint)
      LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE
        cutoff timestamptz;
        p record;
        dropped bigint;
      BEGIN
        IF retention_months IS NULL OR retention_months < 1 THEN
          RAISE EXCEPTION 'retention_months must be at least 1' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cutoff := date_trunc('month', least(coalesce(as_of, now()), now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                  - make_interval(months => retention_months);
        FOR p IN
          SELECT b.oid, b.name, b.range_from, b.range_to FROM (
            SELECT c.oid, c.relname::text AS name,
                   substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz AS range_from,
                   substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS range_to
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.decisions'::regclass) b
           WHERE b.range_to IS NOT NULL AND b.range_to <= cutoff
           ORDER BY b.range_to
        LOOP
          EXECUTE format($q$
            INSERT INTO audit_chain.anchors (first_seq, last_seq, last_hash, row_count, partition_name, range_from, range_to)
            SELECT min(chain_seq), max(chain_seq), (array_agg(chain_hash ORDER BY chain_seq DESC))[1], count(*), %L, %L, %L
              FROM (SELECT chain_seq, chain_hash, chain_seq - row_number() OVER (ORDER BY chain_seq) AS run
                      FROM public.%I) r
             GROUP BY run$q$, p.name, p.range_from, p.range_to, p.name);
          EXECUTE format('SELECT count(*) FROM public.%I', p.name) INTO dropped;
          EXECUTE format('DROP TABLE public.%I', p.name);
          partition_name := p.name;
          range_from := p.range_from;
          range_to := p.range_to;
          row_count := dropped;
          RETURN NEXT;
        END LOOP;
      END $$`);
  }

  /**
   * `audit_chain.grant_application_role(role)`: what the service needs, and on the audit only SELECT and INSERT.
   * Run it as the schema owner after creating the role (see docs/audit-integrity.md), and again after migrations
   * that add tables.
   */
  private async createGrantFunction(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION audit_chain.grant_application_role(role_name text) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        t text;
      BEGIN
        EXECUTE format('GRANT USAGE ON SCHEMA public, audit_chain TO %I', role_name);
        FOR t IN
          SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND c.relname NOT IN ('decisions', 'schema_migrations')
        LOOP
          EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO %I', t, role_name);
        END LOOP;
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role_name);
        EXECUTE format('GRANT SELECT ON public.schema_migrations TO %I', role_name);
        EXECUTE format('GRANT SELECT, INSERT ON public.decisions TO %I', role_name);
        EXECUTE format('GRANT SELECT ON audit_chain.head, audit_chain.anchors TO %I', role_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION audit_chain.drop_expired_partitions(integer, timestamptz) TO %I',
                       role_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION ensure_decision_partitions(date, integer) TO %I', role_name);
      END $$`);
    await queryRunner.query(
      `REVOKE ALL ON FUNCTION audit_chain.drop_expired_partitions(integer, timestamptz) FROM PUBLIC`,
    );
    await queryRunner.query(`REVOKE ALL ON FUNCTION audit_chain.grant_application_role(text) FROM PUBLIC`);
  }
}
