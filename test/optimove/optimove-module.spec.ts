import { OptimoveClient, OptimoveModule } from '@app/optimove';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Registry } from 'prom-client';
import { reply, startTestServer, TestServer } from './optimove-test.server';

const SETTINGS = Symbol('settings');

@Module({ providers: [{ provide: SETTINGS, useValue: { key: 'module-key' } }], exports: [SETTINGS] })
class SettingsModule {}

describe(OptimoveModule.name, () => {
  let server: TestServer;

  beforeEach(async () => {
    server = await startTestServer((_request, res) => reply(res, 200, []));
  });

  afterEach(async () => {
    await server.close();
  });

  it('should provide a client built from async options and close it on shutdown', async () => {
    const registry = new Registry();
    const moduleRef = await Test.createTestingModule({
      imports: [
        OptimoveModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SETTINGS],
          useFactory: (settings: { key: string }) => ({
            apiUrl: `${server.url}/v3.0`,
            apiKey: settings.key,
            timeZone: 'Europe/London',
            registry,
          }),
        }),
      ],
    }).compile();
    const sut = moduleRef.get(OptimoveClient);

    await sut.getRegisteredEventListeners();
    await moduleRef.close();

    expect(server.requests[0].url.pathname).toBe('/v3.0/General/GetRegisteredEventListeners');
    expect(server.requests[0].headers['x-api-key']).toBe('module-key');
    expect(sut.timeZone).toBe('Europe/London');
    expect(await registry.getSingleMetricAsString('optimove_requests_total')).toContain('outcome="success"');
    await expect(sut.getRegisteredEventListeners()).rejects.toThrow('closed');
  });

  it('should refuse invalid options when the module starts', async () => {
    const build = Test.createTestingModule({
      imports: [OptimoveModule.forRoot({ apiUrl: server.url, apiKey: 'k', timeZone: 'Mars/Olympus' })],
    }).compile();

    await expect(build).rejects.toThrow('timeZone Mars/Olympus is not a known IANA zone');
  });
});
