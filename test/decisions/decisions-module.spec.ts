import { AuditModule, AuditWriter, AuditWriterClosedError } from '@app/audit';
import { ComplianceModule } from '@app/compliance';
import { DatabaseModule } from '@app/database';
import { DecisionEngine, DecisionsModule, PolicyDependencyError, PolicyFileError } from '@app/decisions';
import { PromoActivationModule } from '@app/promo-activation';
import { DynamicModule, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { makeDecision } from './support/decisions';
import { HttpStub, startHttpStub } from './support/http-stub';

describe(DecisionsModule.name, () => {
  let database: TestDatabase;
  let profileStub: HttpStub;
  let promoStub: HttpStub;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    database = await createTestDatabase('decisions_module');
    profileStub = await startHttpStub((received) => ({
      status: 200,
      body: { customerId: received.url.split('/').pop(), accountStatus: 'active', selfExcluded: false },
    }));
    promoStub = await startHttpStub(() => ({ status: 201, body: { activationId: 'A', status: 'activated' } }));
  });

  afterAll(async () => {
    await profileStub.close();
    await promoStub.close();
    await database.drop();
  });

  function modules(adapters: { profiles: boolean; promos: boolean }, decisions: DynamicModule): DynamicModule[] {
    return [
      DatabaseModule.forRoot({
        isGlobal: true,
        url: database.url,
        poolMax: 4,
        acquireTimeoutMs: 2000,
        statementTimeoutMs: 5000,
        startupTimeoutMs: 5000,
        applicationName: 'decisions-module-test',
      }),
      ComplianceModule.forRoot({
        isGlobal: true,
        profileSource: adapters.profiles ? { url: profileStub.url, timeoutMs: 500 } : undefined,
      }),
      PromoActivationModule.forRoot({
        isGlobal: true,
        promoSystem: adapters.promos ? { url: promoStub.url } : undefined,
      }),
      AuditModule.forRoot({ isGlobal: true, writer: { maxDelayMs: 2 } }),
      decisions,
    ];
  }

  it('should wire the engine to the adapters and the audit writer, and drain on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: modules({ profiles: true, promos: true }, DecisionsModule.forRoot({ promoConcurrency: 2 })),
    }).compile();
    const app = await moduleRef.init();
    const engine = app.get(DecisionEngine);
    const clearanceId = randomUUID();

    const result = await engine.decide({
      flow: 'triggered',
      campaignId: '9',
      occurrence: clearanceId,
      clearanceId,
      customers: [{ customerId: 'N1', promoCodes: ['P'] }],
      deadline: Date.now() + 2000,
    });
    const rows: unknown[] = await app
      .get(DataSource)
      .query(`SELECT 1 FROM decisions WHERE clearance_id = $1`, [clearanceId]);
    const writer = app.get(AuditWriter);
    await app.close();

    expect(result.decisions[0]).toMatchObject({ allowed: true, policy: 'default' });
    expect(rows).toHaveLength(1);
    expect(promoStub.requests).toHaveLength(1);
    await expect(writer.record([makeDecision()])).rejects.toBeInstanceOf(AuditWriterClosedError);
    expect(writer.stats.statements).toBe(1);
  });

  it('should refuse to start when a policy needs an adapter that is not configured', async () => {
    const compiling = Test.createTestingModule({
      imports: modules({ profiles: false, promos: true }, DecisionsModule.forRoot({})),
    }).compile();

    await expect(compiling).rejects.toBeInstanceOf(PolicyDependencyError);
  });

  it('should start without a promo system when no policy activates promos', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: modules(
        { profiles: true, promos: false },
        DecisionsModule.forRoot({ policyDocument: { policies: [{ name: 'no-promo', promo: 'never' }] } }),
      ),
    }).compile();

    expect(moduleRef.get(DecisionEngine).policies.policies[0].name).toBe('no-promo');
    await moduleRef.close();
  });

  it('should refuse to start with an invalid policy file', async () => {
    const compiling = Test.createTestingModule({
      imports: modules(
        { profiles: true, promos: true },
        DecisionsModule.forRoot({ policyDocument: { policies: [{}] } }),
      ),
    }).compile();

    await expect(compiling).rejects.toBeInstanceOf(PolicyFileError);
  });
});
