import { parseGatewayRequest } from './gateway-request';

function valid(): Record<string, any> {
  return {
    user: { user_id: 'C1', is_visitor: false },
    campaign: {
      id: 42,
      series_id: '7',
      notes: 'anything',
      tags: ['vip'],
      action: { id: 3, name: 'x', promo_codes: ['WB10'], channels: [{ id: 504, name: 'Email', templates: null }] },
    },
  };
}

describe(parseGatewayRequest.name, () => {
  it('should read the documented payload with ids as strings and drop free text', () => {
    const sut = parseGatewayRequest(valid());

    expect(sut).toEqual({
      ok: true,
      request: {
        userIdAsSent: 'C1',
        userId: 'C1',
        isVisitor: false,
        campaignId: '42',
        seriesId: '7',
        tags: ['vip'],
        actionId: '3',
        promoCodes: ['WB10'],
        channelIds: ['504'],
      },
    });
    expect(JSON.stringify(sut)).not.toContain('anything');
  });

  it('should accept null promo codes and a numeric user id', () => {
    const body = valid();
    body.user.user_id = 17;
    body.campaign.action.promo_codes = null;

    const sut = parseGatewayRequest(body);

    expect(sut.ok && sut.request).toEqual(expect.objectContaining({ userIdAsSent: 17, userId: '17', promoCodes: [] }));
  });

  it.each([
    ['user', (b: Record<string, any>) => delete b.user, 'user must be an object'],
    ['user.user_id', (b: Record<string, any>) => (b.user.user_id = ''), 'user.user_id'],
    ['user.is_visitor', (b: Record<string, any>) => (b.user.is_visitor = 'false'), 'user.is_visitor'],
    ['campaign.id', (b: Record<string, any>) => (b.campaign.id = true), 'campaign.id'],
    ['campaign.series_id', (b: Record<string, any>) => delete b.campaign.series_id, 'campaign.series_id'],
    ['campaign.tags', (b: Record<string, any>) => (b.campaign.tags = 'vip'), 'campaign.tags'],
    ['campaign.action.id', (b: Record<string, any>) => (b.campaign.action.id = null), 'campaign.action.id'],
    ['promo_codes', (b: Record<string, any>) => (b.campaign.action.promo_codes = [1]), 'promo_codes'],
    ['channels', (b: Record<string, any>) => (b.campaign.action.channels = null), 'campaign.action.channels'],
    ['channel id', (b: Record<string, any>) => (b.campaign.action.channels = [{}]), 'channels[0].id'],
  ])('should name %s when it is missing or mistyped, keeping what was readable', (_field, spoil, named) => {
    const body = valid();
    spoil(body);

    const sut = parseGatewayRequest(body);

    expect(sut.ok).toBe(false);
    expect(!sut.ok && sut.error).toContain(named);
    if (named !== 'user must be an object' && named !== 'user.user_id') {
      expect(!sut.ok && sut.userIdAsSent).toBe('C1');
    }
  });

  it.each([
    ['user.user_id', (b: Record<string, any>) => (b.user.user_id = 'C\u0000'), 'user.user_id'],
    ['user.user_id', (b: Record<string, any>) => (b.user.user_id = 'C\ud800'), 'user.user_id'],
    ['campaign.id', (b: Record<string, any>) => (b.campaign.id = '\udc00'), 'campaign.id'],
    ['promo_codes', (b: Record<string, any>) => (b.campaign.action.promo_codes = ['W\u0000']), 'promo_codes[0]'],
    ['campaign.tags', (b: Record<string, any>) => (b.campaign.tags = ['ok', '\ud800x']), 'campaign.tags[1]'],
  ])('should refuse text in %s that PostgreSQL cannot store', (_field, spoil, named) => {
    const body = valid();
    spoil(body);

    const sut = parseGatewayRequest(body);

    expect(sut.ok).toBe(false);
    expect(!sut.ok && sut.error).toContain(named);
  });

  it('should accept text outside the basic plane, its surrogates paired', () => {
    const body = valid();
    body.user.user_id = 'C\u{1F600}';

    const sut = parseGatewayRequest(body);

    expect(sut.ok && sut.request.userId).toBe('C\u{1F600}');
  });

  it('should refuse a body that is not an object', () => {
    expect(parseGatewayRequest([1])).toEqual({ ok: false, error: 'the body must be a JSON object' });
  });
});
