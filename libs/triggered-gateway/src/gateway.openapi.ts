import { GATEWAY_PATH } from './triggered-gateway.service';

/**
 * The OpenAPI description of the gateway's route, which Fastify serves directly (no Nest controller to read it
 * from): the app adds it to its document.
 */
export const GATEWAY_OPENAPI_PATHS: Record<string, unknown> = {
  [GATEWAY_PATH]: {
    post: {
      tags: ['optimove'],
      summary: "Optimove's conditional gateway: may this customer receive this triggered campaign now?",
      description:
        'Answers within GATEWAY_TIMEOUT_MS - GATEWAY_MARGIN_MS of arrival; allowed: true only after the audit record ' +
        'is committed. A malformed body is answered 400 with allowed: false and the field named.',
      parameters: [
        { name: 'token', in: 'query', required: true, description: 'GATEWAY_TOKEN', schema: { type: 'string' } },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { type: 'object' },
            example: {
              user: { user_id: 'C1', is_visitor: false },
              campaign: {
                id: 1204,
                series_id: 77,
                tags: ['vip'],
                action: { id: 3, promo_codes: ['WB10'], channels: [] },
              },
            },
          },
        },
      },
      responses: {
        '200': {
          description: 'The decision',
          content: { 'application/json': { example: { user_id: 'C1', allowed: true } } },
        },
        '400': {
          description: 'A missing or mistyped field, or unreadable JSON',
          content: {
            'application/json': { example: { user_id: 'C1', allowed: false, error: 'campaign.id must be a number' } },
          },
        },
        '401': { description: 'Wrong or missing token' },
      },
    },
  },
};
