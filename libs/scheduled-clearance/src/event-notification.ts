import { parseOptimoveTime } from '@app/optimove';

/**
 * An Optimove event notification, read leniently: keys in any case, ids as numbers or strings, unknown keys kept
 * aside.
 */
export interface EventNotification {
  eventTypeId: number;
  campaignId: string | null;
  clearanceRequiredBy: Date | null;
  optimoveTimestamp: Date | null;
  /** What was received, reduced to the fields the audit needs (no free text). */
  recorded: Record<string, unknown>;
}

export const CLEARANCE_EVENT_TYPE = 5;

/** A notification that cannot be read; `field` names what is wrong, as Optimove spells it. */
export class MalformedNotificationError extends Error {
  readonly code = 'MALFORMED_NOTIFICATION';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
    this.name = 'MalformedNotificationError';
  }
}

const ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function parseEventNotification(body: unknown, timeZone: string): EventNotification {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedNotificationError('body', 'must be a JSON object');
  }
  const fields = new Map(Object.entries(body).map(([key, value]) => [key.toLowerCase(), value as unknown]));

  const eventTypeId = readEventType(fields.get('eventtypeid'));
  const campaignId = readId('CampaignID', fields.get('campaignid'), eventTypeId === CLEARANCE_EVENT_TYPE);
  const clearanceRequiredBy = readTime(
    'ClearanceRequiredBy',
    fields.get('clearancerequiredby'),
    timeZone,
    eventTypeId === CLEARANCE_EVENT_TYPE,
  );
  const optimoveTimestamp = readOptionalTime(fields.get('timestamp'), timeZone);
  const channel = fields.get('channelid');

  return {
    eventTypeId,
    campaignId,
    clearanceRequiredBy,
    optimoveTimestamp,
    recorded: {
      EventTypeID: eventTypeId,
      CampaignID: campaignId,
      ClearanceRequiredBy: fields.get('clearancerequiredby') ?? null,
      TimeStamp: fields.get('timestamp') ?? null,
      ...(typeof channel === 'number' || typeof channel === 'string' ? { ChannelID: channel } : {}),
      otherKeys: [...fields.keys()].filter((key) => !KNOWN_KEYS.has(key)).slice(0, 20),
    },
  };
}

const KNOWN_KEYS = new Set(['eventtypeid', 'campaignid', 'clearancerequiredby', 'timestamp', 'channelid']);

function readEventType(value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) {
    throw new MalformedNotificationError('EventTypeID', 'must be a whole number');
  }

  return number;
}

function readId(field: string, value: unknown, required: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (required) {
      throw new MalformedNotificationError(field, 'is required');
    }

    return null;
  }
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !ID.test(text.trim())) {
    throw new MalformedNotificationError(field, 'must be a number or an identifier string');
  }

  return text.trim();
}

function readTime(field: string, value: unknown, timeZone: string, required: boolean): Date | null {
  if (value === undefined || value === null || value === '') {
    if (required) {
      throw new MalformedNotificationError(field, 'is required');
    }

    return null;
  }
  if (typeof value !== 'string') {
    throw new MalformedNotificationError(field, 'must be a date-time string');
  }
  try {
    return parseOptimoveTime(value, timeZone);
  } catch {
    throw new MalformedNotificationError(
      field,
      `must be YYYY-MM-DD HH:MM:SS (in ${timeZone}) or ISO 8601 with an offset`,
    );
  }
}

/** Optimove's own time stamp is informative only: an unreadable one is ignored, not refused. */
function readOptionalTime(value: unknown, timeZone: string): Date | null {
  try {
    return readTime('TimeStamp', value, timeZone, false);
  } catch {
    return null;
  }
}
