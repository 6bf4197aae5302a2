import { isStorableText } from '@app/database';

/** The parts of Optimove's gateway payload the gateway uses; ids as strings. Free text (notes, names) is dropped. */
export interface GatewayRequest {
  /** The id exactly as received, echoed in the answer. */
  userIdAsSent: string | number;
  userId: string;
  isVisitor: boolean;
  campaignId: string;
  seriesId: string;
  tags: string[];
  actionId: string;
  promoCodes: string[];
  channelIds: string[];
}

/** What could be read of a payload that failed validation, for the answer and the audit record. */
export interface InvalidGatewayRequest {
  /** The first problem, naming the field, e.g. `campaign.action.id must be a number or a string`. */
  error: string;
  userIdAsSent?: string | number;
  campaignId?: string;
  seriesId?: string;
  actionId?: string;
  isVisitor?: boolean;
}

export type GatewayRequestParse = { ok: true; request: GatewayRequest } | ({ ok: false } & InvalidGatewayRequest);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An id: a non-empty string or a finite number, as a string; else undefined. A string must be storable (see
 * `isStorableText`: the look-up and the audit insert each carry many requests in one statement) and at most 256
 * characters long.
 */
function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value.length > 0 && value.length <= 256 && isStorableText(value) ? value : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }

  return undefined;
}

/** Thrown inside the parser only, to leave it at the first problem; the invalid path alone pays for the Error. */
class Invalid extends Error {
  constructor(readonly error: string) {
    super(error);
  }
}

/**
 * Reads the documented gateway payload by hand: one pass, no reflection, no schema interpretation (a few
 * microseconds a request; `bench/gateway.bench.ts` prints it). Required: `user.user_id` (string or number),
 * `user.is_visitor` (boolean), `campaign.id`, `campaign.series_id`, `campaign.action.id` (numbers or strings),
 * `campaign.tags` (array of strings) and `campaign.action.channels` (array of objects with an id). Nullable as
 * Optimove documents: `campaign.action.promo_codes` (array of strings or null). Unknown and free-text fields are
 * ignored and never kept.
 */
export function parseGatewayRequest(body: unknown): GatewayRequestParse {
  const partial: Omit<InvalidGatewayRequest, 'error'> = {};
  try {
    if (!isObject(body)) {
      throw new Invalid('the body must be a JSON object');
    }
    const user = body.user;
    if (!isObject(user)) {
      throw new Invalid('user must be an object');
    }
    const userIdAsSent = user.user_id;
    const userId = idOf(userIdAsSent);
    if (userId === undefined) {
      throw new Invalid(
        'user.user_id must be a number or a non-empty string (at most 256 characters, no NUL or unpaired surrogate)',
      );
    }
    partial.userIdAsSent = userIdAsSent as string | number;
    const campaign = body.campaign;
    if (isObject(campaign)) {
      partial.campaignId = idOf(campaign.id);
      partial.seriesId = idOf(campaign.series_id);
      if (isObject(campaign.action)) {
        partial.actionId = idOf(campaign.action.id);
      }
    }
    if (typeof user.is_visitor !== 'boolean') {
      throw new Invalid('user.is_visitor must be a boolean');
    }
    partial.isVisitor = user.is_visitor;
    if (!isObject(campaign)) {
      throw new Invalid('campaign must be an object');
    }
    if (partial.campaignId === undefined) {
      throw new Invalid('campaign.id must be a number or a non-empty string');
    }
    if (partial.seriesId === undefined) {
      throw new Invalid('campaign.series_id must be a number or a non-empty string');
    }
    const tags = stringArray(campaign.tags, 'campaign.tags', false);
    const action = campaign.action;
    if (!isObject(action)) {
      throw new Invalid('campaign.action must be an object');
    }
    if (partial.actionId === undefined) {
      throw new Invalid('campaign.action.id must be a number or a non-empty string');
    }
    const promoCodes = stringArray(action.promo_codes, 'campaign.action.promo_codes', true);
    const channelIds = channelIdsOf(action.channels);

    return {
      ok: true,
      request: {
        userIdAsSent: partial.userIdAsSent,
        userId,
        isVisitor: partial.isVisitor,
        campaignId: partial.campaignId,
        seriesId: partial.seriesId,
        tags,
        actionId: partial.actionId,
        promoCodes,
        channelIds,
      },
    };
  } catch (error) {
    if (error instanceof Invalid) {
      return { ok: false, error: error.error, ...partial };
    }
    throw error;
  }
}

function stringArray(value: unknown, field: string, nullable: boolean): string[] {
  if (value === null && nullable) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw new Invalid(`${field} must be an array of strings${nullable ? ' or null' : ''}`);
  }
  for (let index = 0; index < value.length; index++) {
    const item: unknown = value[index];
    if (typeof item !== 'string') {
      throw new Invalid(`${field} must be an array of strings${nullable ? ' or null' : ''}`);
    }
    if (!isStorableText(item)) {
      throw new Invalid(`${field}[${index}] holds NUL or an unpaired surrogate`);
    }
  }

  return value as string[];
}

function channelIdsOf(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new Invalid('campaign.action.channels must be an array');
  }
  const ids: string[] = [];
  for (let index = 0; index < value.length; index++) {
    const channel: unknown = value[index];
    const id = isObject(channel) ? idOf(channel.id) : undefined;
    if (id === undefined) {
      throw new Invalid(`campaign.action.channels[${index}].id must be a number or a non-empty string`);
    }
    ids.push(id);
  }

  return ids;
}
