import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The schema of the whole product: notifications as received, clearances with their customers and leased slices,
 * append-only decisions partitioned by month, promo activations with their idempotency keys, reports sent to
 * Optimove, and the bookkeeping of cluster-wide scheduled tasks.
 */
export class InitialSchema1764777600000 implements MigrationInterface {
  name = 'InitialSchema1764777600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE notifications (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        received_at timestamptz NOT NULL DEFAULT now(),
        event_type_id integer,
        campaign_id text,
        optimove_timestamp timestamptz,
        clearance_required_by timestamptz,
        outcome text NOT NULL CHECK (outcome IN ('clearance_created', 'duplicate', 'ignored', 'expired', 'rejected')),
        clearance_id uuid,
        payload jsonb NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX notifications_received_at_idx ON notifications (received_at DESC)`);
    await queryRunner.query(`CREATE INDEX notifications_campaign_idx ON notifications (campaign_id, received_at DESC)`);

    await queryRunner.query(`
      CREATE TABLE clearances (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        campaign_id text NOT NULL,
        clearance_required_by timestamptz NOT NULL,
        report_by timestamptz NOT NULL,
        source text NOT NULL CHECK (source IN ('optimove', 'admin')),
        status text NOT NULL DEFAULT 'pending'
          CHECK (status IN ('pending', 'fetching', 'deciding', 'completed', 'expired', 'failed')),
        fetch_offset bigint NOT NULL DEFAULT 0,
        fetch_completed_at timestamptz,
        total bigint NOT NULL DEFAULT 0,
        approved bigint NOT NULL DEFAULT 0,
        denied bigint NOT NULL DEFAULT 0,
        reported bigint NOT NULL DEFAULT 0,
        deadline_met boolean,
        lease_owner text,
        lease_expires_at timestamptz,
        fencing_token bigint NOT NULL DEFAULT 0,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        CONSTRAINT clearances_occurrence_uq UNIQUE (campaign_id, clearance_required_by)
      )`);
    await queryRunner.query(
      `CREATE INDEX clearances_open_idx ON clearances (report_by) WHERE status IN ('pending', 'fetching', 'deciding')`,
    );
    await queryRunner.query(`CREATE INDEX clearances_campaign_idx ON clearances (campaign_id, created_at DESC)`);
    await queryRunner.query(`CREATE INDEX clearances_status_idx ON clearances (status, created_at DESC)`);

    await queryRunner.query(`
      CREATE TABLE clearance_slices (
        clearance_id uuid NOT NULL REFERENCES clearances (id) ON DELETE CASCADE,
        slice_no integer NOT NULL,
        first_seq bigint NOT NULL,
        last_seq bigint NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done')),
        lease_owner text,
        lease_expires_at timestamptz,
        fencing_token bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        done_at timestamptz,
        PRIMARY KEY (clearance_id, slice_no)
      )`);
    await queryRunner.query(
      `CREATE INDEX clearance_slices_claimable_idx ON clearance_slices (clearance_id, slice_no) WHERE state <> 'done'`,
    );

    await queryRunner.query(`
      CREATE TABLE optimove_reports (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        clearance_id uuid NOT NULL REFERENCES clearances (id) ON DELETE CASCADE,
        campaign_id text NOT NULL,
        customer_count integer NOT NULL CHECK (customer_count BETWEEN 1 AND 10000),
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        status_code integer,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX optimove_reports_clearance_idx ON optimove_reports (clearance_id, id)`);

    await queryRunner.query(`
      CREATE TABLE clearance_customers (
        clearance_id uuid NOT NULL REFERENCES clearances (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        customer_id text NOT NULL,
        action_id text,
        promo_code text,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'decided')),
        allowed boolean,
        decision_id uuid,
        decided_at timestamptz,
        report_id bigint REFERENCES optimove_reports (id),
        reported_at timestamptz,
        PRIMARY KEY (clearance_id, seq),
        CONSTRAINT clearance_customers_customer_uq UNIQUE (clearance_id, customer_id),
        CONSTRAINT clearance_customers_decided_ck CHECK ((state = 'decided') = (allowed IS NOT NULL AND decision_id IS NOT NULL))
      )`);
    await queryRunner.query(`
      CREATE INDEX clearance_customers_unreported_idx ON clearance_customers (clearance_id, seq)
        WHERE allowed AND report_id IS NULL`);
    await queryRunner.query(`CREATE INDEX clearance_customers_decision_idx ON clearance_customers (decision_id)`);

    await queryRunner.query(`
      CREATE TABLE decisions (
        id uuid NOT NULL,
        decided_at timestamptz NOT NULL,
        flow text NOT NULL CHECK (flow IN ('scheduled', 'triggered')),
        campaign_id text,
        action_id text,
        series_id text,
        clearance_id uuid,
        customer_id text NOT NULL,
        is_visitor boolean NOT NULL DEFAULT false,
        allowed boolean NOT NULL,
        mode text NOT NULL CHECK (mode IN ('enforce', 'shadow')),
        policy text NOT NULL,
        reason_codes text[] NOT NULL DEFAULT '{}',
        reasons jsonb NOT NULL DEFAULT '[]',
        checks jsonb NOT NULL DEFAULT '[]',
        latency_ms integer,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (id, decided_at)
      ) PARTITION BY RANGE (decided_at)`);
    await queryRunner.query(`CREATE TABLE decisions_default PARTITION OF decisions DEFAULT`);
    await queryRunner.query(`CREATE INDEX decisions_time_idx ON decisions (decided_at DESC, id DESC)`);
    await queryRunner.query(`CREATE INDEX decisions_campaign_idx ON decisions (campaign_id, decided_at DESC, id DESC)`);
    await queryRunner.query(`CREATE INDEX decisions_customer_idx ON decisions (customer_id, decided_at DESC, id DESC)`);
    await queryRunner.query(`
      CREATE INDEX decisions_clearance_idx ON decisions (clearance_id, decided_at DESC, id DESC)
        WHERE clearance_id IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX decisions_reason_codes_idx ON decisions USING gin (reason_codes)`);

    await queryRunner.query(`
      CREATE FUNCTION ensure_decision_partitions(first_month date, months integer) RETURNS integer
      LANGUAGE plpgsql AS $$
      DECLARE
        created integer := 0;
        month_start date;
        partition_name text;
      BEGIN
        FOR i IN 0 .. months - 1 LOOP
          month_start := (date_trunc('month', first_month) + make_interval(months => i))::date;
          partition_name := format('decisions_%s', to_char(month_start, 'YYYY_MM'));
          IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
              'CREATE TABLE %I PARTITION OF decisions FOR VALUES FROM (%L) TO (%L)',
              partition_name, month_start::timestamptz, (month_start + interval '1 month')::timestamptz);
            created := created + 1;
          END IF;
        END LOOP;
        RETURN created;
      END $$`);
    await queryRunner.query(`SELECT ensure_decision_partitions((now() - interval '1 month')::date, 5)`);

    await queryRunner.query(`
      CREATE FUNCTION refuse_decision_change() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'decisions are append-only: % of a committed decision is refused', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
        FOR EACH ROW EXECUTE FUNCTION refuse_decision_change()`);

    await queryRunner.query(`
      CREATE TABLE promo_activations (
        idempotency_key text PRIMARY KEY,
        flow text NOT NULL CHECK (flow IN ('scheduled', 'triggered')),
        campaign_id text NOT NULL,
        occurrence text NOT NULL,
        customer_id text NOT NULL,
        promo_code text NOT NULL,
        state text NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'activated', 'rejected', 'unavailable', 'cancelling', 'cancelled')),
        activation_id text,
        rejection_reason text,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        activated_at timestamptz,
        cancelled_at timestamptz
      )`);
    await queryRunner.query(
      `CREATE INDEX promo_activations_customer_idx ON promo_activations (customer_id, campaign_id)`,
    );
    await queryRunner.query(
      `CREATE INDEX promo_activations_cancelling_idx ON promo_activations (updated_at) WHERE state = 'cancelling'`,
    );

    await queryRunner.query(`
      CREATE TABLE scheduled_task_runs (
        task text PRIMARY KEY,
        last_started_at timestamptz,
        last_finished_at timestamptz,
        last_result text,
        last_error text
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS scheduled_task_runs`);
    await queryRunner.query(`DROP TABLE IF EXISTS promo_activations`);
    await queryRunner.query(`DROP TABLE IF EXISTS decisions`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS refuse_decision_change()`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS ensure_decision_partitions(date, integer)`);
    await queryRunner.query(`DROP TABLE IF EXISTS clearance_customers`);
    await queryRunner.query(`DROP TABLE IF EXISTS optimove_reports`);
    await queryRunner.query(`DROP TABLE IF EXISTS clearance_slices`);
    await queryRunner.query(`DROP TABLE IF EXISTS clearances`);
    await queryRunner.query(`DROP TABLE IF EXISTS notifications`);
  }
}
