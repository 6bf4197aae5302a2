export const DECISION_EXAMPLE = {
  id: '0b8f2f0e-6c2e-4b8e-9d83-3f1f6f0c2a11',
  flow: 'scheduled',
  campaignId: '1359',
  actionId: '19',
  seriesId: null,
  clearanceId: '5f0c7a52-2a8e-4f0e-8a57-0c1d7f3b9e21',
  customerId: 'C234638',
  isVisitor: false,
  allowed: false,
  mode: 'enforce',
  policy: 'vip-bonus',
  reasons: [{ code: 'COMPLIANCE_COUNTRY', message: 'country US is blocked' }],
  checks: [
    { name: 'profile', outcome: 'pass', durationMs: 4 },
    { name: 'compliance', outcome: 'fail', durationMs: 0, codes: ['COMPLIANCE_COUNTRY'] },
  ],
  decidedAt: '2026-12-03T12:00:00.000Z',
  latencyMs: 12,
  reportedAt: null,
};

export const CLEARANCE_EXAMPLE = {
  id: '5f0c7a52-2a8e-4f0e-8a57-0c1d7f3b9e21',
  campaignId: '1359',
  clearanceRequiredBy: '2026-12-03T12:45:00.000Z',
  reportBy: '2026-12-03T12:44:00.000Z',
  source: 'optimove',
  status: 'deciding',
  total: 100000,
  approved: 61234,
  denied: 8766,
  pending: 30000,
  reported: 60000,
  deadlineMet: null,
  createdAt: '2026-12-03T12:00:01.000Z',
  updatedAt: '2026-12-03T12:03:10.000Z',
  finishedAt: null,
};

export const CAMPAIGN_SUMMARY_EXAMPLE = {
  campaignId: '1359',
  total: 100412,
  byOutcome: [
    { flow: 'scheduled', allowed: true, count: 91234 },
    { flow: 'scheduled', allowed: false, count: 8766 },
    { flow: 'triggered', allowed: false, count: 412 },
  ],
  byReason: [
    { flow: 'scheduled', allowed: false, reason: 'COMPLIANCE_ACCOUNT_STATUS', count: 5012 },
    { flow: 'triggered', allowed: false, reason: 'TIMEOUT', count: 3 },
  ],
};

const error = (statusCode: number, error: string, message: string, extra: object = {}) => ({
  statusCode,
  error,
  message,
  ...extra,
  requestId: '3d9c1f6e-1b0a-4c55-9a0e-6e2b0f4f7d10',
});

export const ERROR_EXAMPLES = {
  badParameter: error(400, 'Bad Request', 'limit must be at most 1000', { parameters: ['limit'] }),
  unauthorized: error(401, 'Unauthorized', 'a valid audit API key is required: Authorization: Bearer <key>'),
  forbidden: error(403, 'Forbidden', 'this operation needs an admin key'),
  notFound: error(404, 'Not Found', 'no decision 0b8f2f0e-6c2e-4b8e-9d83-3f1f6f0c2a11'),
  tooManyRequests: error(429, 'Too Many Requests', 'rate limit of this key reached'),
};
