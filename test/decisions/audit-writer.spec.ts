import { AuditWriter, AuditWriterClosedError } from '@app/audit';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { makeDecision, openMigrated } from './support/decisions';

describe(AuditWriter.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    database = await createTestDatabase('audit_writer');
    dataSource = await openMigrated(database.url);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  async function transactionsOf(ids: string[]): Promise<number> {
    const rows: { n: number }[] = await dataSource.query(
      `SELECT count(DISTINCT xmin::text)::int AS n FROM decisions WHERE id = ANY($1::uuid[])`,
      [ids],
    );

    return rows[0].n;
  }

  it('should commit concurrent callers in one statement and resolve them after the commit', async () => {
    const sut = new AuditWriter(dataSource, { maxDelayMs: 20 });
    const decisions = Array.from({ length: 50 }, (_, index) =>
      makeDecision({
        customerId: `G${index}`,
        allowed: index % 2 === 0,
        reasons: index % 2 ? [{ code: 'COMPLIANCE_KYC', message: 'KYC is not verified' }] : [],
      }),
    );

    await Promise.all(decisions.map((decision) => sut.record([decision])));

    expect(sut.stats).toMatchObject({ statements: 1, rows: 50, recentBatchSizes: [50] });
    expect(await transactionsOf(decisions.map((decision) => decision.id))).toBe(1);
    const [row] = await dataSource.query(
      `SELECT customer_id, allowed, reason_codes, reasons, checks, mode, policy, latency_ms, decided_at
       FROM decisions WHERE id = $1`,
      [decisions[1].id],
    );
    expect(row).toMatchObject({
      customer_id: 'G1',
      allowed: false,
      reason_codes: ['COMPLIANCE_KYC'],
      reasons: [{ code: 'COMPLIANCE_KYC', message: 'KYC is not verified' }],
      checks: [{ name: 'compliance', outcome: 'pass', durationMs: 0.01 }],
      mode: 'enforce',
      policy: 'default',
      latency_ms: 3,
    });
    expect(new Date(row.decided_at as string).toISOString()).toBe(decisions[1].decidedAt);
    await sut.close();
  });

  it('should have the row readable as soon as the caller resolves', async () => {
    const sut = new AuditWriter(dataSource, { maxDelayMs: 5 });
    const decision = makeDecision();

    await sut.record([decision]);
    const rows: unknown[] = await dataSource.query(`SELECT 1 FROM decisions WHERE id = $1`, [decision.id]);

    expect(rows).toHaveLength(1);
    await sut.close();
  });

  it('should flush by size without waiting for the delay, and never split a caller', async () => {
    const sut = new AuditWriter(dataSource, { maxBatchSize: 10, maxDelayMs: 60_000, maxConcurrentFlushes: 1 });
    const big = Array.from({ length: 15 }, () => makeDecision());
    const small = Array.from({ length: 20 }, () => makeDecision());

    await Promise.all([sut.record(big), ...small.map((decision) => sut.record([decision]))]);

    expect(sut.stats.recentBatchSizes).toEqual([15, 10, 10]);
    expect(await transactionsOf(big.map((decision) => decision.id))).toBe(1);
    await sut.close();
  });

  it('should reject every caller of a batch the database refuses', async () => {
    await dataSource.query(`
      CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$`);
    await dataSource.query(
      `CREATE TRIGGER refuse_inserts BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION refuse_all()`,
    );
    const sut = new AuditWriter(dataSource, { maxDelayMs: 10 });
    try {
      const decisions = [makeDecision(), makeDecision(), makeDecision()];

      const outcomes = await Promise.allSettled(decisions.map((decision) => sut.record([decision])));

      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect((outcomes[0] as PromiseRejectedResult).reason).toMatchObject({
        message: expect.stringContaining('disk full'),
      });
      expect(sut.stats).toMatchObject({ statements: 0, failedStatements: 1 });
    } finally {
      await dataSource.query(`DROP TRIGGER refuse_inserts ON decisions`);
      await dataSource.query(`DROP FUNCTION refuse_all()`);
      await sut.close();
    }
  });

  it('should reject when the database goes away', async () => {
    const doomed = await createTestDatabase('audit_gone');
    const doomedSource = await openMigrated(doomed.url, 2);
    const sut = new AuditWriter(doomedSource, { maxDelayMs: 1 });
    await sut.record([makeDecision()]);

    await doomed.drop();

    await expect(sut.record([makeDecision()])).rejects.toThrow();
    await sut.close();
    await doomedSource.destroy().catch(() => undefined);
  });

  it("should not fail other callers because of one caller's bad data", async () => {
    const sut = new AuditWriter(dataSource, { maxDelayMs: 10 });
    const good = makeDecision();
    const bad = makeDecision({ customerId: 'bad\u0000id' });

    const outcomes = await Promise.allSettled([sut.record([good]), sut.record([bad])]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    await expect(sut.record([makeDecision({ clearanceId: 'not-a-uuid' })])).rejects.toThrow(/invalid clearanceId/);
    await sut.close();
  });

  it('should write what is queued on close and refuse decisions afterwards', async () => {
    const sut = new AuditWriter(dataSource, { maxDelayMs: 60_000 });
    const decision = makeDecision();
    const pending = sut.record([decision]);

    await sut.close();

    await expect(pending).resolves.toBeUndefined();
    await expect(sut.record([makeDecision()])).rejects.toBeInstanceOf(AuditWriterClosedError);
    const rows: unknown[] = await dataSource.query(`SELECT 1 FROM decisions WHERE id = $1`, [decision.id]);
    expect(rows).toHaveLength(1);
  });
});
