/**
 * Optimove's wire shapes (PascalCase, as Optimove spells them) and the lenient readers that turn its answers into
 * the client's camelCase types: keys in any case, IDs as numbers or strings, optional fields absent or null.
 */

/** Body of UpdateCustomerPromotionStatus. */
export interface PromotionStatusUpdateBody {
  TimeStamp: string;
  CampaignID: number | string;
  PromosUpdated: { CustomerID: string; Status: boolean }[];
}

/** One customer of a campaign's target group, as read from GetProcessedCampaignCustomers. */
export interface ProcessedCustomer {
  customerId: string;
  actionId?: number;
  promoCode?: string;
  channelId?: number;
  recipientGroupId?: number;
  /** From `CustomerAttributes` (array) or `CustomerAttribute` (one delimited string), in the order asked for. */
  attributes?: string[];
}

/** A registered event listener, from GetRegisteredEventListeners. */
export interface RegisteredEventListener {
  eventTypeId: number;
  listenerUrl: string;
  channelId?: number;
}

type Row = Record<string, unknown>;

/** `row[name]` with `name` matched case-insensitively (the exact spelling is tried first, it is the usual one). */
export function readField(row: Row, name: string): unknown {
  if (name in row) {
    return row[name];
  }
  const lower = name.toLowerCase();
  for (const key in row) {
    if (key.toLowerCase() === lower) {
      return row[key];
    }
  }

  return undefined;
}

/** An ID sent as a number or a string, as a trimmed string; undefined when absent, null, empty or not scalar. */
export function readId(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();

    return trimmed === '' ? undefined : trimmed;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  if (typeof value === 'bigint') {
    return value.toString();
  }

  return undefined;
}

/** A whole number sent as a number or a numeric string. */
export function readInteger(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

  return typeof number === 'number' && Number.isSafeInteger(number) ? number : undefined;
}

function readText(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    return value.map(readText).find((text) => text !== undefined);
  }

  return readId(value);
}

function readAttributes(row: Row, delimiter: string): string[] | undefined {
  const list = readField(row, 'CustomerAttributes');
  if (Array.isArray(list)) {
    return list.map((item) => (item === null || item === undefined ? '' : String(item as string | number)));
  }
  const text = typeof list === 'string' ? list : readField(row, 'CustomerAttribute');

  return typeof text === 'string' ? text.split(delimiter) : undefined;
}

function isRow(value: unknown): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The list inside an answer: the answer itself, or the one array property of a wrapping object (e.g. `value`). */
export function unwrapList(body: unknown): unknown[] | undefined {
  if (body === null || body === undefined) {
    return [];
  }
  if (Array.isArray(body)) {
    return body as unknown[];
  }
  if (isRow(body)) {
    const arrays = Object.values(body).filter(Array.isArray);

    return arrays.length === 1 ? (arrays[0] as unknown[]) : undefined;
  }

  return undefined;
}

/** One target-group row, or undefined when it carries no usable customer ID. */
export function readProcessedCustomer(value: unknown, delimiter: string): ProcessedCustomer | undefined {
  if (!isRow(value)) {
    return undefined;
  }
  const customerId = readId(readField(value, 'CustomerID'));
  if (customerId === undefined) {
    return undefined;
  }
  const customer: ProcessedCustomer = { customerId };
  const actionId = readInteger(readField(value, 'ActionID'));
  if (actionId !== undefined) {
    customer.actionId = actionId;
  }
  const promoCode = readText(readField(value, 'PromoCode'));
  if (promoCode !== undefined) {
    customer.promoCode = promoCode;
  }
  const channelId = readInteger(readField(value, 'ChannelID'));
  if (channelId !== undefined) {
    customer.channelId = channelId;
  }
  const recipientGroupId = readInteger(readField(value, 'RecipientGroupID'));
  if (recipientGroupId !== undefined) {
    customer.recipientGroupId = recipientGroupId;
  }
  const attributes = readAttributes(value, delimiter);
  if (attributes !== undefined) {
    customer.attributes = attributes;
  }

  return customer;
}

/** One row of GetRegisteredEventListeners, or undefined when it lacks an event type or a URL. */
export function readRegisteredListener(value: unknown): RegisteredEventListener | undefined {
  if (!isRow(value)) {
    return undefined;
  }
  const eventTypeId = readInteger(readField(value, 'EventTypeID'));
  const listenerUrl = readId(readField(value, 'ListenerURL'));
  if (eventTypeId === undefined || listenerUrl === undefined) {
    return undefined;
  }
  const channelId = readInteger(readField(value, 'ChannelID'));

  return channelId === undefined ? { eventTypeId, listenerUrl } : { eventTypeId, listenerUrl, channelId };
}

/** A campaign ID as Optimove's bodies carry it: a number when it is numeric, else the string as given. */
export function toWireId(id: number | string): number | string {
  const number = typeof id === 'number' ? id : Number(id.trim());

  return Number.isSafeInteger(number) && (typeof id === 'number' || id.trim() !== '') ? number : id;
}
