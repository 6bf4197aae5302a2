import { Decision } from '@app/decisions';

export const CSV_COLUMNS = [
  'id',
  'decidedAt',
  'flow',
  'campaignId',
  'actionId',
  'seriesId',
  'clearanceId',
  'customerId',
  'isVisitor',
  'allowed',
  'mode',
  'policy',
  'reasons',
  'latencyMs',
  'reportedAt',
] as const;

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One RFC 4180 line; reasons as their codes joined by `|`. */
export function toCsvLine(decision: Decision): string {
  const values: Record<(typeof CSV_COLUMNS)[number], string | number | boolean | null> = {
    ...decision,
    reasons: decision.reasons.map((reason) => reason.code).join('|'),
  };

  return `${CSV_COLUMNS.map((column) => csvField(values[column])).join(',')}\r\n`;
}

/**
 * Quotes a field when it needs it, and defuses values that a spreadsheet would run as a formula (customer ids
 * come from Optimove, not from us) by prefixing a single quote.
 */
function csvField(value: string | number | boolean | null): string {
  if (value === null) {
    return '';
  }
  let text = String(value);
  if (/^[=+@\t\r]/.test(text)) {
    text = `'${text}`;
  }

  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
