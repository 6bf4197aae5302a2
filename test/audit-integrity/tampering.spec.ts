import { insertDecisions, verifyAuditChain } from '@app/audit';
import { DataSource } from 'typeorm';
import { makeDecision, openMigrated } from '../decisions/support/decisions';
import { createTestDatabase, TestDatabase } from '../support/test-database';

describe('audit chain verification against tampering', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  const idAt = new Map<number, string>();

  /** Runs SQL as superuser with the append-only trigger off, as an attacker with full access would. */
  async function tamper(sql: string, parameters: unknown[]): Promise<void> {
    await dataSource.transaction(async (manager) => {
      await manager.query(`ALTER TABLE decisions DISABLE TRIGGER decisions_append_only`);
      await manager.query(sql, parameters);
      await manager.query(`ALTER TABLE decisions ENABLE TRIGGER decisions_append_only`);
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase('audit_tamper');
    dataSource = await openMigrated(database.url);
    for (let n = 0; n < 30; n++) {
      await insertDecisions(dataSource, [makeDecision({ customerId: `C${n}` })]);
    }
    const rows: { seq: string; id: string }[] = await dataSource.query(
      `SELECT chain_seq::text AS seq, id FROM decisions`,
    );
    rows.forEach((row) => idAt.set(Number(row.seq), row.id));
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, checked: 30 });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('should find an altered record at its position', async () => {
    await tamper(`UPDATE decisions SET allowed = false WHERE chain_seq = 5`, []);

    expect(await verifyAuditChain(dataSource, { fromSeq: 1, toSeq: 10 })).toMatchObject({
      ok: false,
      checked: 4,
      fault: { kind: 'altered', seq: 5, id: idAt.get(5) },
    });
  });

  it('should find a deleted record at its position', async () => {
    await tamper(`DELETE FROM decisions WHERE chain_seq = 15`, []);

    expect(await verifyAuditChain(dataSource, { fromSeq: 11, toSeq: 20 })).toMatchObject({
      ok: false,
      checked: 4,
      fault: { kind: 'removed', seq: 15, id: null },
    });
  });

  it('should find two swapped records at the first of them', async () => {
    await tamper(
      `UPDATE decisions SET chain_seq = CASE chain_seq WHEN 25 THEN 26 ELSE 25 END WHERE chain_seq IN (25, 26)`,
      [],
    );

    expect(await verifyAuditChain(dataSource, { fromSeq: 21, toSeq: 30 })).toMatchObject({
      ok: false,
      checked: 4,
      fault: { kind: 'reordered', seq: 25, id: idAt.get(26), predecessorSeq: 26 },
    });
  });

  it('should find a record removed and the rest renumbered, and a truncated tail', async () => {
    await tamper(`DELETE FROM decisions WHERE chain_seq = 28`, []);
    await tamper(`UPDATE decisions SET chain_seq = chain_seq - 1 WHERE chain_seq > 28`, []);

    expect(await verifyAuditChain(dataSource, { fromSeq: 27, toSeq: 29 })).toMatchObject({
      ok: false,
      fault: { kind: 'unlinked', seq: 28, id: idAt.get(29) },
    });
    expect(await verifyAuditChain(dataSource, { fromSeq: 29 })).toMatchObject({
      ok: false,
      fault: { kind: 'removed', seq: 30 },
    });
  });

  it('should report the first fault of the whole chain', async () => {
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: false, fault: { kind: 'altered', seq: 5 } });
  });
});
