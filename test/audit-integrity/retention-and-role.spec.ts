import {
  AuditApiModule,
  AuditIntegrityModule,
  AuditRetentionScheduler,
  dropExpiredPartitions,
  insertDecisions,
  verifyAuditChain,
} from '@app/audit';
import { Global, INestApplication, Module } from '@nestjs/common';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { makeDecision, openMigrated } from '../decisions/support/decisions';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const MONTH_MS = 31 * 24 * 60 * 60 * 1000;

function monthsAgo(months: number): string {
  const date = new Date();
  date.setUTCDate(15);
  date.setUTCMonth(date.getUTCMonth() - months);

  return date.toISOString();
}

describe('audit retention, database role and verify endpoint', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('audit_retention');
    dataSource = await openMigrated(database.url);
    await dataSource.query(`SELECT ensure_decision_partitions((now() - interval '8 months')::date, 8)`);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('should drop whole partitions past the retention with no DELETE, and keep the chain verifiable', async () => {
    // Old and recent decisions interleave in chain order, as late inserts make them do.
    for (let n = 0; n < 12; n++) {
      await insertDecisions(dataSource, [
        makeDecision({ decidedAt: monthsAgo(n % 3 === 0 ? 6 : n % 3 === 1 ? 5 : 0) }),
        makeDecision({ decidedAt: monthsAgo(n % 2 === 0 ? 6 : 1) }),
      ]);
    }
    const oldPartitions: { name: string }[] = await dataSource.query(
      `SELECT DISTINCT tableoid::regclass::text AS name FROM decisions WHERE decided_at < now() - interval '4 months'`,
    );
    expect(oldPartitions).toHaveLength(2);

    expect(await dropExpiredPartitions(dataSource, { retentionMonths: 0 })).toEqual({
      ran: false,
      reason: 'disabled',
      dropped: [],
    });
    // A caller cannot move the clock forward to drop more.
    const result = await dropExpiredPartitions(dataSource, {
      retentionMonths: 4,
      now: new Date(Date.now() + 24 * MONTH_MS),
    });

    expect(result.ran).toBe(true);
    expect(result.dropped.map((dropped) => dropped.partition).sort()).toEqual(
      expect.arrayContaining(oldPartitions.map((partition) => partition.name).sort()),
    );
    expect(result.dropped.reduce((sum, dropped) => sum + dropped.rows, 0)).toBe(14);
    for (const { name } of oldPartitions) {
      const [{ exists }]: { exists: string | null }[] = await dataSource.query(`SELECT to_regclass($1) AS exists`, [
        name,
      ]);
      expect(exists).toBeNull();
    }
    const deletes: { n: string }[] = await dataSource.query(
      `SELECT coalesce(sum(n_tup_del), 0)::text AS n FROM pg_stat_user_tables WHERE relname LIKE 'decisions%'`,
    );
    expect(deletes[0].n).toBe('0');
    const [{ count }]: { count: string }[] = await dataSource.query(`SELECT count(*)::text AS count FROM decisions`);
    expect(count).toBe('10');

    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, checked: 10, skippedByRetention: 14 });
    await insertDecisions(dataSource, [makeDecision()]);
    expect(await verifyAuditChain(dataSource, { batchSize: 5 })).toMatchObject({ ok: true, checked: 11 });
  });

  it('should let only one of two concurrent retention runs act, and refuse changes to the anchors', async () => {
    const verifying = dataSource.createQueryRunner();
    await verifying.connect();
    try {
      await verifying.query(
        `SELECT pg_advisory_lock_shared(hashtextextended('optimove-clearance:audit-chain-retention', 0))`,
      );
      expect(await dropExpiredPartitions(dataSource, { retentionMonths: 1 })).toMatchObject({
        ran: false,
        reason: 'busy',
      });
    } finally {
      await verifying.release();
    }
    await expect(dataSource.query(`DELETE FROM audit_chain.anchors`)).rejects.toThrow(/append-only/);
  });

  it('should give the application role INSERT and SELECT on decisions, and never UPDATE, DELETE or TRUNCATE', async () => {
    const role = `t_clearance_app_${randomBytes(4).toString('hex')}`;
    await dataSource.query(`CREATE ROLE ${role} LOGIN`);
    const url = new URL(database.url);
    url.username = role;
    const app = new Client({ connectionString: url.toString() });
    try {
      await dataSource.query(`SELECT audit_chain.grant_application_role($1)`, [role]);
      await app.connect();
      const id = makeDecision().id;
      await app.query(
        `INSERT INTO decisions (id, decided_at, flow, customer_id, allowed, mode, policy)
         VALUES ($1, now(), 'triggered', 'R1', true, 'enforce', 'default')`,
        [id],
      );
      expect((await app.query(`SELECT chain_seq FROM decisions WHERE id = $1`, [id])).rows).toHaveLength(1);
      await app.query(`SELECT ensure_decision_partitions(now()::date, 2)`);

      for (const sql of [
        `UPDATE decisions SET allowed = false WHERE id = '${id}'`,
        `DELETE FROM decisions WHERE id = '${id}'`,
        `TRUNCATE decisions`,
        `UPDATE audit_chain.head SET seq = 0`,
        `DELETE FROM audit_chain.anchors`,
        `ALTER TABLE decisions DISABLE TRIGGER decisions_append_only`,
      ]) {
        await expect(app.query(sql)).rejects.toMatchObject({ code: expect.stringMatching(/^42501$/) });
      }
      expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true });
    } finally {
      await app.end().catch(() => undefined);
      await dataSource.query(`DROP OWNED BY ${role}`);
      await dataSource.query(`DROP ROLE ${role}`);
    }
  });

  it('should serve POST /admin/audit/verify to admin keys only', async () => {
    const adminKey = 'admin-key-0123456789abcdef';
    const auditorKey = 'auditor-key-0123456789abcdef';
    @Global()
    @Module({ providers: [{ provide: DataSource, useValue: dataSource }], exports: [DataSource] })
    class TestDatabaseModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        TestDatabaseModule,
        AuditApiModule.forRoot({
          isGlobal: true,
          apiKeys: [
            { role: 'admin', key: adminKey },
            { role: 'auditor', key: auditorKey },
          ],
          rateLimit: { requests: 100, windowMs: 60_000 },
        }),
        AuditIntegrityModule.forRoot({ retentionMonths: 0 }),
      ],
    }).compile();
    const app: INestApplication = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    await app.init();
    await app.listen(0, '127.0.0.1');
    try {
      const base = await app.getUrl();
      const post = (path: string, key: string) =>
        fetch(`${base.replace('[::1]', '127.0.0.1')}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
        });

      const ok = await post('/admin/audit/verify', adminKey);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ ok: true, checked: 12 });
      expect((await post('/admin/audit/verify?fromSeq=2&toSeq=3', adminKey)).status).toBe(200);
      expect((await post('/admin/audit/verify?fromSeq=zero', adminKey)).status).toBe(400);
      expect((await post('/admin/audit/verify', auditorKey)).status).toBe(403);
      expect(await app.get(AuditRetentionScheduler).runOnce()).toMatchObject({ ran: false, reason: 'disabled' });
    } finally {
      await app.close();
    }
  });
});
