import { applyMigrations, connectWithRetry } from '@app/database';
import { Decision } from '@app/decisions';
import { ClearanceRepository, LeaseLostError } from '@app/scheduled-clearance';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const LEASE_MS = 30_000;

function decisionFor(clearanceId: string, customerId: string, allowed: boolean): Decision {
  return {
    id: randomUUID(),
    flow: 'scheduled',
    campaignId: 'lease-test',
    actionId: null,
    seriesId: null,
    clearanceId,
    customerId,
    isVisitor: false,
    allowed,
    mode: 'enforce',
    policy: 'default',
    reasons: allowed ? [] : [{ code: 'COMPLIANCE_KYC', message: 'not verified' }],
    checks: [],
    decidedAt: new Date().toISOString(),
    latencyMs: 1,
    reportedAt: null,
  };
}

describe(ClearanceRepository.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let sut: ClearanceRepository;

  beforeAll(async () => {
    database = await createTestDatabase('clearance_leases');
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 6, acquireTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'test' },
      5_000,
    );
    await applyMigrations(dataSource);
    sut = new ClearanceRepository(dataSource);
  });

  beforeEach(async () => {
    // Each test claims from a clean slate: the work left by earlier tests is set aside.
    await dataSource.query(`UPDATE clearance_slices SET state = 'done'`);
    await dataSource.query(`UPDATE clearances SET status = 'completed' WHERE status <> 'completed'`);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  async function openWithCustomers(campaignId: string, customerIds: string[], sliceSize = 1_000): Promise<string> {
    const deadline = new Date(Date.now() + 3_600_000);
    const { clearanceId } = await sut.openClearance(
      { campaignId, clearanceRequiredBy: deadline, reportBy: deadline, decideBy: deadline, source: 'admin' },
      { eventTypeId: null, campaignId, optimoveTimestamp: null, clearanceRequiredBy: deadline, payload: {} },
    );
    const fetch = await sut.claimFetch('fetcher', LEASE_MS);
    expect(fetch?.clearanceId).toBe(clearanceId);
    await sut.storePage(
      fetch!,
      'fetcher',
      {
        customers: customerIds.map((customerId) => ({ customerId, actionId: null, promoCode: null })),
        nextOffset: customerIds.length,
        last: true,
      },
      sliceSize,
      LEASE_MS,
    );

    return clearanceId;
  }

  it('should leave out customers whose id or promo code PostgreSQL cannot store, and store the rest', async () => {
    const deadline = new Date(Date.now() + 3_600_000);
    const campaign = { campaignId: 'unstorable', clearanceRequiredBy: deadline };
    const { clearanceId } = await sut.openClearance(
      { ...campaign, reportBy: deadline, decideBy: deadline, source: 'admin' },
      { ...campaign, eventTypeId: null, optimoveTimestamp: null, payload: {} },
    );
    const fetch = (await sut.claimFetch('fetcher', LEASE_MS))!;
    expect(fetch.clearanceId).toBe(clearanceId);

    const stored = await sut.storePage(
      fetch,
      'fetcher',
      {
        customers: [
          { customerId: 'U1', actionId: null, promoCode: null },
          { customerId: 'U\u00002', actionId: null, promoCode: null },
          { customerId: 'U3', actionId: '4', promoCode: 'W\ud800' },
          { customerId: 'U4\u{1F600}', actionId: null, promoCode: 'WB10' },
        ],
        nextOffset: 4,
        last: true,
      },
      1_000,
      LEASE_MS,
    );

    expect(stored).toEqual({ inserted: 2, unstorable: 2 });
    const customers: { customer_id: string }[] = await dataSource.query(
      `SELECT customer_id FROM clearance_customers WHERE clearance_id = $1 ORDER BY seq`,
      [clearanceId],
    );
    expect(customers.map((row) => row.customer_id)).toEqual(['U1', 'U4\u{1F600}']);
  });

  it('should let a fetcher that lost its lease write nothing, and its successor resume from the offset', async () => {
    const deadline = new Date(Date.now() + 3_600_000);
    const { clearanceId } = await sut.openClearance(
      {
        campaignId: 'fetch-fence',
        clearanceRequiredBy: deadline,
        reportBy: deadline,
        decideBy: deadline,
        source: 'admin',
      },
      {
        eventTypeId: null,
        campaignId: 'fetch-fence',
        optimoveTimestamp: null,
        clearanceRequiredBy: deadline,
        payload: {},
      },
    );
    const first = (await sut.claimFetch('replica-a', LEASE_MS))!;
    await sut.storePage(
      first,
      'replica-a',
      { customers: [{ customerId: 'F1', actionId: null, promoCode: null }], nextOffset: 1, last: false },
      1_000,
      LEASE_MS,
    );
    await dataSource.query(`UPDATE clearances SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [
      clearanceId,
    ]);

    const second = (await sut.claimFetch('replica-b', LEASE_MS))!;

    expect(second.fetchOffset).toBe(1);
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    await expect(
      sut.storePage(
        first,
        'replica-a',
        { customers: [{ customerId: 'STALE', actionId: null, promoCode: null }], nextOffset: 2, last: true },
        1_000,
        LEASE_MS,
      ),
    ).rejects.toThrow(LeaseLostError);
    await sut.storePage(
      second,
      'replica-b',
      {
        customers: [
          { customerId: 'F1', actionId: null, promoCode: null },
          { customerId: 'F2', actionId: null, promoCode: null },
        ],
        nextOffset: 3,
        last: true,
      },
      1_000,
      LEASE_MS,
    );
    const customers: { customer_id: string }[] = await dataSource.query(
      `SELECT customer_id FROM clearance_customers WHERE clearance_id = $1 ORDER BY seq`,
      [clearanceId],
    );
    expect(customers.map((row) => row.customer_id)).toEqual(['F1', 'F2']);
  });

  it('should give an expired slice to another worker and refuse the first worker its late commit', async () => {
    const clearanceId = await openWithCustomers('slice-fence', ['S1', 'S2', 'S3']);
    const stalled = (await sut.claimSlice('replica-a', LEASE_MS))!;
    await dataSource.query(
      `UPDATE clearance_slices SET lease_expires_at = now() - interval '1 second' WHERE clearance_id = $1`,
      [clearanceId],
    );

    const takenOver = (await sut.claimSlice('replica-b', LEASE_MS))!;
    const customers = await sut.loadSliceCustomers(takenOver);

    expect(takenOver.sliceNo).toBe(stalled.sliceNo);
    expect(takenOver.fencingToken).toBe(stalled.fencingToken + 1);
    await expect(
      sut.commitSlice(
        stalled,
        'replica-a',
        customers.map((c) => decisionFor(clearanceId, c.customerId, true)),
        new Map(),
      ),
    ).rejects.toThrow(LeaseLostError);
    await sut.commitSlice(
      takenOver,
      'replica-b',
      customers.map((c) => decisionFor(clearanceId, c.customerId, c.customerId !== 'S2')),
      new Map(),
    );
    const decisions: { customer_id: string; allowed: boolean }[] = await dataSource.query(
      `SELECT customer_id, allowed FROM decisions WHERE clearance_id = $1 ORDER BY customer_id`,
      [clearanceId],
    );
    expect(decisions).toEqual([
      { customer_id: 'S1', allowed: true },
      { customer_id: 'S2', allowed: false },
      { customer_id: 'S3', allowed: true },
    ]);
    const [counts]: { approved: string; denied: string }[] = await dataSource.query(
      `SELECT approved, denied FROM clearances WHERE id = $1`,
      [clearanceId],
    );
    expect(counts).toEqual({ approved: '2', denied: '1' });
    expect(await sut.claimSlice('replica-c', LEASE_MS)).toBeUndefined();
  });

  it('should hand out each slice to one worker when many claim at once', async () => {
    const clearanceId = await openWithCustomers(
      'slice-race',
      Array.from({ length: 5_000 }, (_, i) => `R${i}`),
    );
    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => sut.claimSlice(`replica-${i}`, LEASE_MS)));
    const mine = claims.filter((claim) => claim?.clearanceId === clearanceId).map((claim) => claim!.sliceNo);

    expect(mine.sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('should deny what is undecided at the cut-off, fence the slices, and record each denial once', async () => {
    const clearanceId = await openWithCustomers('cut-off', ['D1', 'D2', 'D3']);
    const inFlight = (await sut.claimSlice('replica-a', LEASE_MS))!;

    const { denied } = await sut.cutOff(clearanceId, 'default');

    expect(denied).toBe(3);
    await expect(
      sut.commitSlice(
        inFlight,
        'replica-a',
        ['D1', 'D2', 'D3'].map((id) => decisionFor(clearanceId, id, true)),
        new Map(),
      ),
    ).rejects.toThrow(LeaseLostError);
    const decisions: { reason_codes: string[]; allowed: boolean }[] = await dataSource.query(
      `SELECT reason_codes, allowed FROM decisions WHERE clearance_id = $1`,
      [clearanceId],
    );
    expect(decisions).toHaveLength(3);
    expect(decisions.every((row) => !row.allowed && row.reason_codes[0] === 'DEADLINE_EXCEEDED')).toBe(true);
    expect((await sut.cutOff(clearanceId, 'default')).denied).toBe(0);
  });

  it('should put each approval in one report, whole slices at a time, with concurrent reporters', async () => {
    const clearanceId = await openWithCustomers(
      'reports',
      Array.from({ length: 25 }, (_, i) => `P${i}`),
      4,
    );
    const customers: string[] = [];
    for (let slice = await sut.claimSlice('replica-a', LEASE_MS); slice; ) {
      const inSlice = await sut.loadSliceCustomers(slice);
      customers.push(...inSlice.map((c) => c.customerId));
      // Every customer but the slice's last is approved: the slice carries 3 approvals (the last slice, 1 of 1).
      const decisions = inSlice.map((c, i) => decisionFor(clearanceId, c.customerId, i < 3));
      await sut.commitSlice(slice, 'replica-a', decisions, new Map());
      slice = await sut.claimSlice('replica-a', LEASE_MS);
    }
    const approved = customers.filter((_, i) => i % 4 !== 3);

    const reports = await Promise.all([
      sut.openReport('reporter-1', 10, 0, 20_000),
      sut.openReport('reporter-2', 10, 0, 20_000),
      sut.openReport('reporter-3', 10, 0, 20_000),
      sut.openReport('reporter-4', 10, 0, 20_000),
    ]);
    const reported = reports.flatMap((report) => report?.customerIds ?? []);

    expect(reported.sort()).toEqual(approved.sort());
    // 6 slices of 3 approvals and 1 of 1, whole slices in reports of at most 10.
    expect(reports.every((report) => (report?.customerIds.length ?? 0) <= 10)).toBe(true);
    expect(reports.filter((report) => report !== undefined).length).toBeGreaterThanOrEqual(2);
  });
});
