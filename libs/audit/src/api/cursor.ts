import { BadRequestException } from '@nestjs/common';

/** Position after the last row of a page: the row's exact `decided_at` (as PostgreSQL prints it) and its id. */
export interface DecisionCursor {
  decidedAt: string;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

export function encodeCursor(cursor: DecisionCursor): string {
  return Buffer.from(`${cursor.decidedAt}|${cursor.id}`).toString('base64url');
}

/** Opaque to callers; anything that does not decode to a timestamp and a uuid is a 400 naming `cursor`. */
export function decodeCursor(raw: string): DecisionCursor {
  const [decidedAt = '', id = ''] = Buffer.from(raw, 'base64url').toString().split('|');
  if (!TIMESTAMP.test(decidedAt) || !UUID.test(id)) {
    throw new BadRequestException({ message: 'cursor is not a cursor this API issued', parameter: 'cursor' });
  }

  return { decidedAt, id };
}
