import {
  CustomerIdSet,
  OptimoveClient,
  OptimoveClientOptions,
  ProcessedCustomer,
  ProcessedCustomersPage,
} from '@app/optimove';
import { Registry } from 'prom-client';
import { reply, startTestServer, targetGroupRows, TestHandler, TestServer } from './optimove-test.server';

const API_KEY = 'test-api-key-123';

interface StatusBody {
  TimeStamp: string;
  CampaignID: number | string;
  PromosUpdated: { CustomerID: string; Status: boolean }[];
}

function clientFor(server: TestServer, options: Partial<OptimoveClientOptions> = {}): OptimoveClient {
  return new OptimoveClient({
    apiUrl: `${server.url}/current`,
    apiKey: API_KEY,
    timeZone: 'Europe/London',
    rateLimit: false,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    registry: new Registry(),
    ...options,
  });
}

async function collect(pages: AsyncIterable<ProcessedCustomersPage>): Promise<ProcessedCustomersPage[]> {
  const result: ProcessedCustomersPage[] = [];
  for await (const page of pages) {
    result.push(page);
  }

  return result;
}

/** Serves a target group of `size` customers, recording the `$skip` of each request. */
function targetGroupHandler(size: number): TestHandler {
  return (request, res) => {
    const top = Number(request.url.searchParams.get('$top'));
    const skip = Number(request.url.searchParams.get('$skip'));
    reply(res, 200, targetGroupRows(size, skip, top));
  };
}

describe(OptimoveClient.name, () => {
  let server: TestServer;
  let sut: OptimoveClient;
  let handler: TestHandler;

  beforeEach(async () => {
    handler = (_request, res) => reply(res, 200);
    server = await startTestServer((request, res) => handler(request, res));
    sut = clientFor(server);
  });

  afterEach(async () => {
    await sut.close();
    await server.close();
  });

  describe('listener and gateway calls', () => {
    it('should register a listener under the API prefix with the key and JSON headers', async () => {
      await sut.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://brand.example/optimove/events?token=t' });

      const [request] = server.requests;
      expect(request.method).toBe('POST');
      expect(request.url.pathname).toBe('/current/General/RegisterEventListener');
      expect(request.headers['x-api-key']).toBe(API_KEY);
      expect(request.headers.accept).toBe('application/json');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.json).toEqual({ EventTypeID: 5, ListenerURL: 'https://brand.example/optimove/events?token=t' });
    });

    it('should unregister a listener with its channel', async () => {
      await sut.unregisterEventListener({ eventTypeId: 13, channelId: 504 });

      expect(server.requests[0].url.pathname).toBe('/current/General/UnregisterEventListener');
      expect(server.requests[0].json).toEqual({ EventTypeID: 13, ChannelID: 504 });
    });

    it('should list registered listeners leniently', async () => {
      handler = (_request, res) =>
        reply(res, 200, [
          { EventTypeID: 5, ListenerURL: 'https://a.example/e', ChannelID: null },
          { eventtypeid: '13', listenerurl: 'https://b.example/e', channelid: '504' },
          { EventTypeID: 1 },
        ]);

      const listeners = await sut.getRegisteredEventListeners();

      expect(server.requests[0].method).toBe('GET');
      expect(server.requests[0].url.pathname).toBe('/current/General/GetRegisteredEventListeners');
      expect(listeners).toEqual([
        { eventTypeId: 5, listenerUrl: 'https://a.example/e' },
        { eventTypeId: 13, listenerUrl: 'https://b.example/e', channelId: 504 },
      ]);
    });

    it('should put the gateway on the origin of the API URL by default', async () => {
      await sut.setTriggeredGateway({
        gatewayUrl: 'https://brand.example/optimove/triggered?token=g',
        timeoutMs: 2000,
      });

      const [request] = server.requests;
      expect(request.method).toBe('PUT');
      expect(request.url.pathname).toBe('/triggered_conditional_execution_gateway');
      expect(request.json).toEqual({ GatewayURL: 'https://brand.example/optimove/triggered?token=g', Timeout: 2000 });
    });

    it('should use a configured gateway base, path and body fields', async () => {
      const custom = clientFor(server, {
        gatewayApiUrl: `${server.url}/gw/`,
        paths: { setTriggeredGateway: '/Gateway/Set', registerEventListener: 'general/registereventlistener' },
        gatewayBodyFields: { url: 'Url' },
      });
      await custom.setTriggeredGateway({ gatewayUrl: 'https://g.example' });
      await custom.registerEventListener({ eventTypeId: 5, listenerUrl: 'https://l.example' });
      await custom.close();

      expect(server.requests.map((request) => request.url.pathname)).toEqual([
        '/gw/Gateway/Set',
        '/current/general/registereventlistener',
      ]);
      expect(server.requests[0].json).toEqual({ Url: 'https://g.example' });
    });

    it('should refuse a gateway timeout outside 0..2500 ms without calling Optimove', async () => {
      await expect(sut.setTriggeredGateway({ gatewayUrl: 'https://g.example', timeoutMs: 3000 })).rejects.toThrow(
        RangeError,
      );
      expect(server.requests).toHaveLength(0);
    });
  });

  describe('streamProcessedCampaignCustomers', () => {
    it('should read a group that is an exact multiple of the page size and stop at the empty page', async () => {
      handler = targetGroupHandler(30);

      const pages = await collect(sut.streamProcessedCampaignCustomers(42, { pageSize: 10, pagesInFlight: 1 }));

      expect(server.requests.map((request) => request.url.searchParams.get('$skip'))).toEqual(['0', '10', '20', '30']);
      expect(server.requests[0].url.pathname).toBe('/current/Customers/GetProcessedCampaignCustomers');
      expect(server.requests[0].url.searchParams.get('CampaignID')).toBe('42');
      expect(server.requests[0].url.searchParams.get('$top')).toBe('10');
      expect(pages.map((page) => [page.offset, page.nextOffset, page.customers.length, page.last])).toEqual([
        [0, 10, 10, false],
        [10, 20, 10, false],
        [20, 30, 10, false],
        [30, 30, 0, true],
      ]);
      expect(pages.flatMap((page) => page.customers.map((customer) => customer.customerId))).toEqual(
        Array.from({ length: 30 }, (_, i) => `C${i + 1}`),
      );
    });

    it('should stop at a short page without asking for another', async () => {
      handler = targetGroupHandler(25);

      const pages = await collect(sut.streamProcessedCampaignCustomers(42, { pageSize: 10, pagesInFlight: 1 }));

      expect(server.requests).toHaveLength(3);
      expect(pages.map((page) => page.received)).toEqual([10, 10, 5]);
      expect(pages[2].last).toBe(true);
    });

    it('should yield one empty last page for an empty target group', async () => {
      handler = (_request, res) => reply(res, 200, []);

      const pages = await collect(sut.streamProcessedCampaignCustomers(42));

      expect(pages).toEqual([
        { offset: 0, nextOffset: 0, received: 0, customers: [], duplicates: 0, malformed: 0, last: true },
      ]);
      expect(server.requests[0].url.searchParams.get('$top')).toBe('10000');
    });

    it('should read every page in order with pages prefetched', async () => {
      handler = async (request, res) => {
        const skip = Number(request.url.searchParams.get('$skip'));
        await new Promise((resolve) => setTimeout(resolve, skip === 0 ? 40 : 5));
        await targetGroupHandler(95)(request, res);
      };

      const pages = await collect(sut.streamProcessedCampaignCustomers(42, { pageSize: 10, pagesInFlight: 3 }));

      expect(pages.map((page) => page.offset)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      expect(pages.flatMap((page) => page.customers).map((c) => c.customerId)).toEqual(
        Array.from({ length: 95 }, (_, i) => `C${i + 1}`),
      );
      const skips = new Set(server.requests.map((request) => Number(request.url.searchParams.get('$skip'))));
      expect(Math.max(...skips)).toBeLessThanOrEqual(110);
    });

    it('should resume from a stored offset', async () => {
      handler = targetGroupHandler(25);

      const pages = await collect(sut.streamProcessedCampaignCustomers(42, { pageSize: 10, startOffset: 20 }));

      expect(server.requests[0].url.searchParams.get('$skip')).toBe('20');
      expect(pages.map((page) => page.customers.map((c) => c.customerId))).toEqual([
        ['C21', 'C22', 'C23', 'C24', 'C25'],
      ]);
    });

    it('should drop duplicate customer IDs within and across pages, also when pre-seeded', async () => {
      const pagesBySkip: Record<string, unknown[]> = {
        '0': [{ CustomerID: 'A' }, { CustomerID: 7 }, { CustomerID: 'A' }],
        '3': [{ CustomerID: '7' }, { CustomerID: 'B' }, { CustomerID: ' C ' }],
        '6': [{ CustomerID: 'C' }, { CustomerID: 'D' }],
      };
      handler = (request, res) => reply(res, 200, pagesBySkip[request.url.searchParams.get('$skip') ?? ''] ?? []);
      const seen = new CustomerIdSet();
      seen.add('D');

      const pages = await collect(sut.streamProcessedCampaignCustomers(1, { pageSize: 3, seen }));

      expect(pages.map((page) => page.customers.map((c) => c.customerId))).toEqual([['A', '7'], ['B', 'C'], []]);
      expect(pages.map((page) => page.duplicates)).toEqual([1, 1, 2]);
      expect(seen.size).toBe(5);
    });

    it('should parse rows leniently', async () => {
      handler = (_request, res) =>
        reply(res, 200, {
          value: [
            { CustomerID: 'C1', ActionID: 19, PromoCode: 'WB23', CustomerAttributes: ['Ann', 'GB'] },
            { customerid: 2, actionid: '20', promocode: null, CustomerAttribute: 'Bob;US' },
            { CUSTOMERID: 'C3', ActionID: null, ChannelID: '504', RecipientGroupID: 3, PromoCode: ['P1', 'P2'] },
            { ActionID: 1 },
            { CustomerID: null },
            'not a row',
            { CustomerID: '' },
          ],
        });

      const [page] = await collect(
        sut.streamProcessedCampaignCustomers(1, { pageSize: 100, customerAttributes: ['Alias', 'Country'] }),
      );

      expect(server.requests[0].url.searchParams.get('CustomerAttributes')).toBe('Alias;Country');
      expect(page.customers).toEqual<ProcessedCustomer[]>([
        { customerId: 'C1', actionId: 19, promoCode: 'WB23', attributes: ['Ann', 'GB'] },
        { customerId: '2', actionId: 20, attributes: ['Bob', 'US'] },
        { customerId: 'C3', channelId: 504, recipientGroupId: 3, promoCode: 'P1' },
      ]);
      expect(page.malformed).toBe(4);
      expect(page.received).toBe(7);
      expect(page.last).toBe(true);
    });

    it('should cancel the pages in flight when the consumer stops early', async () => {
      handler = targetGroupHandler(1000);

      const stream = sut.streamProcessedCampaignCustomers(1, { pageSize: 10, pagesInFlight: 2 });
      let read = 0;
      for await (const page of stream) {
        read += page.customers.length;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));

      expect(read).toBe(10);
      expect(server.requests.length).toBeLessThanOrEqual(3);
    });
  });

  describe('updateCustomerPromotionStatus', () => {
    it('should send 25,000 approvals in three calls of 10,000, 10,000 and 5,000', async () => {
      const chunks: number[] = [];
      function* statuses(): Generator<{ customerId: string; status: boolean }> {
        for (let n = 1; n <= 25_000; n++) {
          yield { customerId: `C${n}`, status: n % 10 !== 0 };
        }
      }

      const report = await sut.updateCustomerPromotionStatus(1359, statuses(), {
        timestamp: new Date('2025-07-01T08:33:00Z'),
        onChunk: (chunk) => {
          chunks.push(chunk.customers);
        },
      });

      expect(report).toEqual({ calls: 3, customers: 25_000 });
      expect(chunks).toEqual([10_000, 10_000, 5_000]);
      expect(server.requests.map((request) => request.url.pathname)).toEqual(
        Array(3).fill('/current/Integrations/UpdateCustomerPromotionStatus'),
      );
      const bodies = server.requests.map((request) => request.json as StatusBody);
      expect(bodies.map((body) => body.PromosUpdated.length)).toEqual([10_000, 10_000, 5_000]);
      expect(bodies[0]).toMatchObject({ TimeStamp: '2025-07-01 09:33:00', CampaignID: 1359 });
      expect(bodies[0].PromosUpdated[0]).toEqual({ CustomerID: 'C1', Status: true });
      expect(bodies[2].PromosUpdated[4_999]).toEqual({ CustomerID: 'C25000', Status: false });
    });

    it('should write TimeStamp in the site zone on both sides of a daylight-saving change', async () => {
      const newYork = clientFor(server, { timeZone: 'America/New_York' });
      await newYork.updateCustomerPromotionStatus('77', [{ customerId: 1, status: true }], {
        timestamp: new Date('2025-03-09T06:59:59Z'),
      });
      await newYork.updateCustomerPromotionStatus('77', [{ customerId: 1, status: true }], {
        timestamp: new Date('2025-03-09T07:00:00Z'),
      });
      await newYork.close();

      expect(server.requests.map((request) => (request.json as StatusBody).TimeStamp)).toEqual([
        '2025-03-09 01:59:59',
        '2025-03-09 03:00:00',
      ]);
      expect((server.requests[0].json as StatusBody).CampaignID).toBe(77);
      expect((server.requests[0].json as StatusBody).PromosUpdated).toEqual([{ CustomerID: '1', Status: true }]);
    });

    it('should make no call for no statuses and refuse a malformed entry', async () => {
      await expect(sut.updateCustomerPromotionStatus(1, [])).resolves.toEqual({ calls: 0, customers: 0 });
      await expect(sut.updateCustomerPromotionStatus(1, [{ customerId: '', status: true }])).rejects.toThrow(TypeError);
      expect(server.requests).toHaveLength(0);
    });
  });
});
