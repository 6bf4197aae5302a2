import { applyMigrations, connectWithRetry } from '@app/database';
import { ActivationLedger, activationIdempotencyKey, ActivationRequest } from '@app/promo-activation';
import { EarlierAnswers } from '@app/triggered-gateway';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { insertDecisionRows } from '../support/decision-rows';
import { createTestDatabase, TestDatabase } from '../support/test-database';

const CAMPAIGN = '9900';

function activationFor(customerId: string): ActivationRequest {
  const parts = { campaignId: CAMPAIGN, occurrence: CAMPAIGN, customerId, promoCode: 'WB10' };

  return { ...parts, idempotencyKey: activationIdempotencyKey(parts), flow: 'triggered' };
}

describe(EarlierAnswers.name, () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let ledger: ActivationLedger;
  let sut: EarlierAnswers;

  const ledgerRow = async (customerId: string): Promise<{ state: string } | undefined> =>
    (
      await dataSource.query(`SELECT state FROM promo_activations WHERE campaign_id = $1 AND customer_id = $2`, [
        CAMPAIGN,
        customerId,
      ])
    )[0];

  beforeAll(async () => {
    database = await createTestDatabase('earlier_answers');
    dataSource = await connectWithRetry(
      { url: database.url, poolMax: 2, acquireTimeoutMs: 2000, statementTimeoutMs: 5000, applicationName: 'test' },
      5000,
      new Logger('test'),
    );
    await applyMigrations(dataSource, new Logger('test'));
  });

  beforeEach(() => {
    ledger = new ActivationLedger(dataSource);
    sut = new EarlierAnswers(dataSource, 100, ledger);
  });

  afterAll(async () => {
    await dataSource.destroy();
    await database.drop();
  });

  it("should begin nothing for a request with an earlier answer, and begin a first request's activations", async () => {
    const [earlierId] = await insertDecisionRows(dataSource, [
      { campaignId: CAMPAIGN, customerId: 'EA1', allowed: false, reasons: ['COUNTRY_BLOCKED'] },
    ]);
    const [repeat, first] = [activationFor('EA1'), activationFor('EA2')];

    const found = await Promise.all([sut.find(CAMPAIGN, 'EA1', [repeat]), sut.find(CAMPAIGN, 'EA2', [first])]);

    expect(found[0]).toMatchObject({ decisionId: earlierId, allowed: false });
    expect(found[1]).toBeNull();
    await expect(ledgerRow('EA1')).resolves.toBeUndefined();
    await expect(ledgerRow('EA2')).resolves.toEqual({ state: 'pending' });
    // The first request's checks denied the customer: its reserved key is released, never asked.
    sut.release([first]);
    await ledger.flush();
    await expect(ledgerRow('EA2')).resolves.toEqual({ state: 'skipped' });
  });

  it('should still find the earlier answer when the activations cannot be begun with it', async () => {
    const [earlierId] = await insertDecisionRows(dataSource, [{ campaignId: CAMPAIGN, customerId: 'EA3' }]);
    await dataSource.query(`
      CREATE FUNCTION refuse_activation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'the ledger refuses this key (test)'; END $$;
      CREATE TRIGGER refuse_activation BEFORE INSERT ON promo_activations
        FOR EACH ROW WHEN (NEW.customer_id = 'EA4') EXECUTE FUNCTION refuse_activation();`);
    try {
      // One statement for both look-ups: the begin of the second request's key fails it.
      const found = await Promise.all([
        sut.find(CAMPAIGN, 'EA3', [activationFor('EA3')]),
        sut.find(CAMPAIGN, 'EA4', [activationFor('EA4')]),
      ]);

      expect(found[0]).toMatchObject({ decisionId: earlierId, allowed: true });
      expect(found[1]).toBeNull();
      await expect(ledgerRow('EA4')).resolves.toBeUndefined();
    } finally {
      await dataSource.query(`DROP TRIGGER refuse_activation ON promo_activations; DROP FUNCTION refuse_activation()`);
    }
  });

  it('should answer a request this replica committed from memory, without a statement', async () => {
    const answer = { decisionId: 'd-1', allowed: true, policy: 'default', reasons: [] };
    sut.remember(CAMPAIGN, 'EA5', answer);
    // A look-up that reached the database would find nothing for EA5 and begin its key.
    await expect(sut.find(CAMPAIGN, 'EA5', [activationFor('EA5')])).resolves.toEqual(answer);
    await expect(ledgerRow('EA5')).resolves.toBeUndefined();
  });

  it('should plan its statement once per connection, however few requests a batch carries', async () => {
    // One connection, so that the prepared statement and the view below share it.
    const single = await connectWithRetry(
      { url: database.url, poolMax: 1, acquireTimeoutMs: 2000, statementTimeoutMs: 5000, applicationName: 'test' },
      5000,
      new Logger('test'),
    );
    try {
      const lookUps = new EarlierAnswers(single, 100, new ActivationLedger(single));
      for (let i = 0; i < 12; i++) {
        const activation = activationFor(`EP${i}`);
        await expect(lookUps.find(CAMPAIGN, `EP${i}`, [activation])).resolves.toBeNull();
        lookUps.release([activation]);
      }
      const [plans] = await single.query(
        `SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
         WHERE name = 'gateway_find_earlier_and_begin'`,
      );

      // PostgreSQL tries five custom plans before it weighs the generic one; each custom plan costs more planning
      // (over every partition of decisions) than the look-up costs to run.
      expect(plans).toEqual({ generic: 7, custom: 5 });
    } finally {
      await single.destroy();
    }
  });
});
