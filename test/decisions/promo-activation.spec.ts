import { applyMigrations, connectWithRetry } from '@app/database';
import {
  ActivationLedger,
  activationIdempotencyKey,
  ActivationRequest,
  beginActivationsSql,
  BegunActivationRow,
  HttpPromoActivationAdapter,
  RecordingPromoActivationAdapter,
} from '@app/promo-activation';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { HttpStub, startHttpStub } from './support/http-stub';

const PARTS = { campaignId: '42', occurrence: 'clearance-1', customerId: 'C1', promoCode: 'WELCOME' };

function requestFor(customerId: string, promoCode = 'WELCOME'): ActivationRequest {
  const parts = { ...PARTS, customerId, promoCode };

  return { ...parts, idempotencyKey: activationIdempotencyKey(parts), flow: 'scheduled' };
}

describe('activationIdempotencyKey', () => {
  it('should give the same key for the same parts, every time', () => {
    const key = activationIdempotencyKey(PARTS);

    expect(activationIdempotencyKey({ ...PARTS })).toBe(key);
    // Pinned: a change of this value means keys changed across releases, so customers could be activated twice.
    expect(key).toBe('pa1-LmUBmXxnuKMq2kYODZdaRhlbtoK1WyCbXbaVyIOBLyc');
    expect(key).toMatch(/^pa1-[A-Za-z0-9_-]{43}$/);
  });

  it('should differ whenever a part differs, even when the concatenation is the same', () => {
    const keys = new Set([
      activationIdempotencyKey(PARTS),
      activationIdempotencyKey({ ...PARTS, occurrence: 'clearance-2' }),
      activationIdempotencyKey({ ...PARTS, customerId: 'C2' }),
      activationIdempotencyKey({ ...PARTS, promoCode: 'OTHER' }),
      activationIdempotencyKey({ ...PARTS, campaignId: '43' }),
      activationIdempotencyKey({ ...PARTS, customerId: 'C1|WELCOME', promoCode: '' }),
      activationIdempotencyKey({ ...PARTS, customerId: 'C1', promoCode: '|WELCOME' }),
    ]);

    expect(keys.size).toBe(7);
  });
});

describe(HttpPromoActivationAdapter.name, () => {
  let stub: HttpStub;
  let sut: HttpPromoActivationAdapter;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    stub = await startHttpStub(() => ({ status: 500 }));
    sut = new HttpPromoActivationAdapter({
      url: stub.url,
      token: 'promo-token',
      requestTimeoutMs: 150,
      initialBackoffMs: 10,
    });
  });

  afterAll(async () => {
    await sut.onApplicationShutdown();
    await stub.close();
  });

  beforeEach(() => {
    stub.requests.length = 0;
  });

  it('should retry a 409 with the same key until the activation succeeds', async () => {
    let calls = 0;
    stub.handler = () =>
      ++calls < 3 ? { status: 409 } : { status: 201, body: { activationId: 'A-1', status: 'activated' } };
    const request = requestFor('C1');

    const result = await sut.activate(request, { deadline: Date.now() + 2000 });

    expect(result).toEqual({ status: 'activated', activationId: 'A-1', attempts: 3 });
    expect(stub.requests.map((received) => received.headers['idempotency-key'])).toEqual([
      request.idempotencyKey,
      request.idempotencyKey,
      request.idempotencyKey,
    ]);
    expect(stub.requests[0]).toMatchObject({
      method: 'POST',
      url: '/activations',
      body: { customerId: 'C1', promoCode: 'WELCOME', campaignId: '42', flow: 'scheduled' },
    });
    expect(stub.requests[0].headers.authorization).toBe('Bearer promo-token');
  });

  it('should take a 422 as a final rejection, without retrying', async () => {
    stub.handler = () => ({ status: 422, body: { reason: 'promo exhausted' } });

    const result = await sut.activate(requestFor('C2'), { deadline: Date.now() + 2000 });

    expect(result).toEqual({ status: 'rejected', reason: 'promo exhausted', attempts: 1 });
    expect(stub.requests).toHaveLength(1);
  });

  it('should retry a failing promo system and report it unavailable before the deadline', async () => {
    stub.handler = () => ({ status: 503 });
    const deadline = Date.now() + 400;

    const result = await sut.activate(requestFor('C3'), { deadline });

    expect(result.status).toBe('unavailable');
    expect(result).toMatchObject({ ranOutOfTime: false });
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.attempts).toBe(stub.requests.length);
    expect(Date.now()).toBeLessThanOrEqual(deadline + 500);
  });

  it('should report a slow promo system unavailable within the deadline', async () => {
    stub.handler = () => ({ status: 201, body: { activationId: 'late' }, delayMs: 3000 });
    const deadline = Date.now() + 350;

    const result = await sut.activate(requestFor('C4'), { deadline });

    expect(result).toMatchObject({
      status: 'unavailable',
      error: expect.stringMatching(/no answer within/),
      ranOutOfTime: true,
    });
    expect(Date.now()).toBeLessThanOrEqual(deadline + 1000);
  });

  it('should stop when the AbortSignal fires', async () => {
    stub.handler = () => ({ status: 409 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 80);

    const result = await sut.activate(requestFor('C5'), { deadline: Date.now() + 5000, signal: controller.signal });

    expect(result.status).toBe('unavailable');
    // Only ever in progress (409): the activation may still land.
    expect(result).toMatchObject({ ranOutOfTime: true });
  });

  it('should cancel with DELETE, retrying while the activation is in flight', async () => {
    let calls = 0;
    stub.handler = (received) =>
      received.url.endsWith(encodeURIComponent('never'))
        ? { status: 404 }
        : ++calls < 2
          ? { status: 409 }
          : { status: 204 };
    const key = requestFor('C6').idempotencyKey;

    await expect(sut.cancel(key, { deadline: Date.now() + 2000 })).resolves.toEqual({ status: 'cancelled' });
    await expect(sut.cancel('never', { deadline: Date.now() + 2000 })).resolves.toEqual({ status: 'not-activated' });
    expect(stub.requests.map((received) => `${received.method} ${received.url}`)).toEqual([
      `DELETE /activations/${key}`,
      `DELETE /activations/${key}`,
      'DELETE /activations/never',
    ]);
  });
});

describe(RecordingPromoActivationAdapter.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let stub: HttpStub;
  let http: HttpPromoActivationAdapter;
  let ledger: ActivationLedger;
  let sut: RecordingPromoActivationAdapter;

  beforeAll(async () => {
    database = await createTestDatabase('promo_ledger');
    const settings = {
      url: database.url,
      poolMax: 4,
      acquireTimeoutMs: 2000,
      statementTimeoutMs: 5000,
      applicationName: 'test',
    };
    dataSource = await connectWithRetry(settings, 5000, new Logger('test'));
    await applyMigrations(dataSource, new Logger('test'));
    stub = await startHttpStub(() => ({ status: 500 }));
    http = new HttpPromoActivationAdapter({ url: stub.url, requestTimeoutMs: 100, initialBackoffMs: 10 });
    ledger = new ActivationLedger(dataSource);
    sut = new RecordingPromoActivationAdapter(http, ledger);
  });

  afterAll(async () => {
    await sut.onApplicationShutdown();
    await stub.close();
    await dataSource.destroy();
    await database.drop();
  });

  beforeEach(() => {
    stub.requests.length = 0;
  });

  it('should plan its begin statement once per connection, however few keys a batch carries', async () => {
    // One connection, so that the prepared statement and the view below share it.
    const single = await connectWithRetry(
      { url: database.url, poolMax: 1, acquireTimeoutMs: 2000, statementTimeoutMs: 5000, applicationName: 'test' },
      5000,
      new Logger('test'),
    );
    try {
      const own = new ActivationLedger(single);
      for (let i = 0; i < 12; i++) {
        await expect(own.begin(requestFor(`PLAN${i}`))).resolves.toMatchObject({ state: 'pending' });
      }
      const [plans] = await single.query(
        `SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
         WHERE name = 'promo_activations_begin'`,
      );

      expect(plans).toEqual({ generic: 7, custom: 5 });
    } finally {
      await single.destroy();
    }
  });

  it('should record the activation and never call the promo system again for the same key', async () => {
    stub.handler = () => ({ status: 200, body: { activationId: 'A-9', status: 'activated' } });
    const request = requestFor('L1');

    const first = await sut.activate(request, { deadline: Date.now() + 1000 });
    const second = await sut.activate(request, { deadline: Date.now() + 1000 });

    expect(first).toMatchObject({ status: 'activated', activationId: 'A-9' });
    expect(second).toMatchObject({ status: 'activated', activationId: 'A-9' });
    expect(stub.requests).toHaveLength(1);
    await sut.flush();
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({
      state: 'activated',
      activationId: 'A-9',
      attempts: 1,
    });
  });

  it('should leave every pooled connection committing synchronously after an outcome is recorded', async () => {
    // The outcome statement relaxes synchronous_commit for its own transaction only; were it to leak into the
    // session, a decision committed later on the same connection could be lost in a crash.
    stub.handler = () => ({ status: 200, body: { activationId: 'A-S', status: 'activated' } });
    for (const customer of ['S1', 'S2', 'S3', 'S4', 'S5']) {
      await sut.activate(requestFor(customer), { deadline: Date.now() + 1000 });
    }
    await sut.flush();
    await expect(ledger.find(requestFor('S5').idempotencyKey)).resolves.toMatchObject({ state: 'activated' });

    const runners = Array.from({ length: 4 }, () => dataSource.createQueryRunner());
    try {
      await Promise.all(runners.map((runner) => runner.connect()));
      const settings = await Promise.all(
        runners.map(
          async (runner) => ((await runner.query('SHOW synchronous_commit')) as { synchronous_commit: string }[])[0],
        ),
      );

      expect(settings.map((row) => row.synchronous_commit)).toEqual(['on', 'on', 'on', 'on']);
    } finally {
      await Promise.all(runners.map((runner) => runner.release()));
    }
  });

  it('should keep a rejection final', async () => {
    stub.handler = () => ({ status: 422, body: { reason: 'not eligible' } });
    const request = requestFor('L2');

    await sut.activate(request, { deadline: Date.now() + 1000 });
    const again = await sut.activate(request, { deadline: Date.now() + 1000 });

    expect(again).toMatchObject({ status: 'rejected', reason: 'not eligible' });
    expect(stub.requests).toHaveLength(1);
    await sut.flush();
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'rejected' });
  });

  it('should leave a late activation findable, and cancel it', async () => {
    stub.handler = (received) =>
      received.method === 'DELETE' ? { status: 409 } : { status: 201, body: { activationId: 'late' }, delayMs: 500 };
    const request = requestFor('L3');

    const result = await sut.activate(request, { deadline: Date.now() + 150 });

    expect(result.status).toBe('unavailable');
    await sut.flush();
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'unavailable' });

    const pending = await sut.cancel(request.idempotencyKey, { deadline: Date.now() + 100 });
    expect(pending.status).toBe('unavailable');
    await expect(ledger.findCancelling(10)).resolves.toContain(request.idempotencyKey);

    stub.handler = () => ({ status: 204 });
    await expect(sut.cancel(request.idempotencyKey, { deadline: Date.now() + 1000 })).resolves.toEqual({
      status: 'cancelled',
    });
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'cancelled' });
    await expect(sut.activate(request, { deadline: Date.now() + 1000 })).resolves.toMatchObject({ status: 'rejected' });
  });
  it('should answer the call before its outcome is written, and write it behind', async () => {
    stub.handler = () => ({ status: 201, body: { activationId: 'A-WB', status: 'activated' } });
    const request = requestFor('W1');

    const result = await sut.activate(request, { deadline: Date.now() + 1000 });

    expect(result).toMatchObject({ status: 'activated', activationId: 'A-WB' });
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'pending' });
    // Meanwhile the ledger answers for the key from memory: the promo system is not asked again.
    await expect(sut.activate(request, { deadline: Date.now() + 1000 })).resolves.toMatchObject({
      status: 'activated',
      activationId: 'A-WB',
    });
    expect(stub.requests).toHaveLength(1);
    await sut.flush();
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({
      state: 'activated',
      activationId: 'A-WB',
    });
  });

  it('should let a cancellation win over an outcome not yet written', async () => {
    stub.handler = (received) =>
      received.method === 'DELETE' ? { status: 204 } : { status: 201, body: { activationId: 'A-CX' } };
    const request = requestFor('W2');

    await sut.activate(request, { deadline: Date.now() + 1000 });
    await expect(sut.cancel(request.idempotencyKey, { deadline: Date.now() + 1000 })).resolves.toEqual({
      status: 'cancelled',
    });
    await sut.flush();

    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'cancelled' });
    await expect(sut.activate(request, { deadline: Date.now() + 1000 })).resolves.toMatchObject({ status: 'rejected' });
    expect(stub.requests.filter((received) => received.method === 'POST')).toHaveLength(1);
  });

  /** Begins keys the way a caller's own statement does (the gateway's look-up), through the ledger's SQL. */
  async function beginOutside(requests: ActivationRequest[]): Promise<BegunActivationRow[]> {
    return dataSource.query(
      beginActivationsSql(
        'SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])',
      ),
      [
        requests.map((request) => request.idempotencyKey),
        requests.map((request) => request.flow),
        requests.map((request) => request.campaignId),
        requests.map((request) => request.occurrence),
        requests.map((request) => request.customerId),
        requests.map((request) => request.promoCode),
      ],
    );
  }

  it('should answer an adopted key from its row, and mark an adopted key never asked skipped', async () => {
    stub.handler = () => ({ status: 201, body: { activationId: 'A-AD' } });
    const [used, unused] = [requestFor('AD1'), requestFor('AD2')];
    const rows = await beginOutside([used, unused]);
    expect(rows.map((row) => row.state)).toEqual(['pending', 'pending']);
    const own = new ActivationLedger(dataSource);
    const adapter = new RecordingPromoActivationAdapter(http, own);
    // The adopted row is what begin answers: a row that says activated is not asked of the promo system again.
    own.adopt([{ ...rows[0], state: 'activated', activation_id: 'A-EARLIER' }, rows[1]]);

    await expect(adapter.activate(used, { deadline: Date.now() + 1000 })).resolves.toEqual({
      status: 'activated',
      activationId: 'A-EARLIER',
      attempts: 0,
    });
    own.release([used.idempotencyKey, unused.idempotencyKey]);
    await own.flush();

    expect(stub.requests).toHaveLength(0);
    await expect(ledger.find(unused.idempotencyKey)).resolves.toMatchObject({ state: 'skipped', attempts: 0 });
    // The used key's row is left to its own outcome (none was written here: it was answered from the row).
    await expect(ledger.find(used.idempotencyKey)).resolves.toMatchObject({ state: 'pending' });
  });

  it('should skip a key only while it is the version the releasing caller began', async () => {
    const request = requestFor('AD3');
    const first = await beginOutside([request]);
    // A second request for the same key (a retry, on another replica) begins it again before the first is released.
    const second = await beginOutside([request]);
    expect(second[0]).toMatchObject({ state: 'pending' });
    expect(second[0].version).not.toBe(first[0].version);
    const [one, other] = [new ActivationLedger(dataSource), new ActivationLedger(dataSource)];
    one.adopt(first);
    other.adopt(second);

    one.release([request.idempotencyKey]);
    await one.flush();
    // The second request may be asking the promo system under the key: the first one's skip does not land.
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'pending' });

    other.release([request.idempotencyKey]);
    await other.flush();
    // Denied too, the last one to begin it skips it: no row is left pending for ever.
    await expect(ledger.find(request.idempotencyKey)).resolves.toMatchObject({ state: 'skipped' });
  });

  it('should ask again under a skipped key, and skip it again when a denied request began it back', async () => {
    stub.handler = () => ({ status: 201, body: { activationId: 'A-SK' } });
    const [asked, denied] = [requestFor('SK1'), requestFor('SK2')];
    const own = new ActivationLedger(dataSource);
    own.adopt(await beginOutside([asked, denied]));
    own.release([asked.idempotencyKey, denied.idempotencyKey]);
    await own.flush();
    await expect(ledger.find(asked.idempotencyKey)).resolves.toMatchObject({ state: 'skipped' });

    // A skipped key asked again is pending while the promo system is asked, then activated.
    await expect(sut.activate(asked, { deadline: Date.now() + 1000 })).resolves.toMatchObject({ status: 'activated' });
    await expect(ledger.find(asked.idempotencyKey)).resolves.toMatchObject({ state: 'pending' });
    await sut.flush();
    await expect(ledger.find(asked.idempotencyKey)).resolves.toMatchObject({ state: 'activated' });

    // A later request's look-up takes the skipped key back, and its checks deny the customer again: skipped again,
    // rather than pending for ever.
    const reclaimed = await beginOutside([denied]);
    expect(reclaimed[0]).toMatchObject({ state: 'pending' });
    own.adopt(reclaimed);
    own.release([denied.idempotencyKey]);
    await own.flush();
    await expect(ledger.find(denied.idempotencyKey)).resolves.toMatchObject({ state: 'skipped' });
  });

  it("should not skip a key another replica began since its own begin, and keep that replica's outcome", async () => {
    stub.handler = () => ({ status: 201, body: { activationId: 'A-RACE' } });
    const raced = requestFor('SK3');
    const own = new ActivationLedger(dataSource);
    own.adopt(await beginOutside([raced]));
    // Another replica begins the key and asks the promo system while this one, whose checks denied the customer,
    // has not released it yet; the other's outcome is written after the skip.
    const replica = new RecordingPromoActivationAdapter(
      http,
      new ActivationLedger(dataSource, { outcomeLingerMs: 60_000 }),
    );
    await expect(replica.activate(raced, { deadline: Date.now() + 1000 })).resolves.toMatchObject({
      status: 'activated',
    });

    own.release([raced.idempotencyKey]);
    await own.flush();

    // Still pending: the replica's activation is in flight as far as the table can tell.
    await expect(ledger.find(raced.idempotencyKey)).resolves.toMatchObject({ state: 'pending' });
    await replica.flush();
    await expect(ledger.find(raced.idempotencyKey)).resolves.toMatchObject({
      state: 'activated',
      activationId: 'A-RACE',
    });
  });

  it('should let a late outcome land on a skipped row, and a cancellation mark it for the sweeper', async () => {
    stub.handler = (received) =>
      received.method === 'DELETE' ? { status: 503 } : { status: 201, body: { activationId: 'A-LATE' } };
    const late = requestFor('SK4');
    const replica = new RecordingPromoActivationAdapter(
      http,
      new ActivationLedger(dataSource, { outcomeLingerMs: 60_000 }),
    );
    await expect(replica.activate(late, { deadline: Date.now() + 1000 })).resolves.toMatchObject({
      status: 'activated',
    });
    // However the row came to say skipped while an activation was in flight under its key, that activation is not
    // lost: its outcome lands after the skip, and a cancellation of the key is recorded for the sweeper.
    await dataSource.query(`UPDATE promo_activations SET state = 'skipped' WHERE idempotency_key = $1`, [
      late.idempotencyKey,
    ]);
    await replica.flush();
    await expect(ledger.find(late.idempotencyKey)).resolves.toMatchObject({ state: 'activated' });

    const skipped = requestFor('SK5');
    const own = new ActivationLedger(dataSource);
    own.adopt(await beginOutside([skipped]));
    own.release([skipped.idempotencyKey]);
    await own.flush();
    await expect(sut.cancel(skipped.idempotencyKey, { deadline: Date.now() + 300 })).resolves.toMatchObject({
      status: 'unavailable',
    });

    await expect(ledger.find(skipped.idempotencyKey)).resolves.toMatchObject({ state: 'cancelling' });
    await expect(ledger.findCancelling(100)).resolves.toContain(skipped.idempotencyKey);
  });

  it('should never keep the outcome statement prepared on a connection', async () => {
    // A plan prepared once, while the table was empty, reads every row of the grown table for every batch ever
    // after: the outcome statement is planned afresh each time. One connection, so that what it keeps is visible.
    const single = await connectWithRetry(
      { url: database.url, poolMax: 1, acquireTimeoutMs: 2000, statementTimeoutMs: 5000, applicationName: 'test' },
      5000,
      new Logger('test'),
    );
    try {
      const own = new RecordingPromoActivationAdapter(http, new ActivationLedger(single));
      stub.handler = () => ({ status: 201, body: { activationId: 'A-PLAN' } });
      for (const customer of ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']) {
        await own.activate(requestFor(customer), { deadline: Date.now() + 1000 });
        await own.flush();
      }

      const prepared = await single.query<{ statement: string }[]>(`SELECT statement FROM pg_prepared_statements`);
      expect(prepared.some((row) => row.statement.includes('INSERT INTO promo_activations'))).toBe(true);
      expect(prepared.some((row) => row.statement.includes('UPDATE promo_activations'))).toBe(false);
      await expect(new ActivationLedger(single).find(requestFor('P7').idempotencyKey)).resolves.toMatchObject({
        state: 'activated',
      });
    } finally {
      await single.destroy();
    }
  });
});
