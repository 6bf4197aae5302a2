import { REASON_CODES } from '@app/decisions';
import { BadRequestException } from '@nestjs/common';
import { z } from 'zod';
import { DecisionCursor, decodeCursor } from './cursor';

export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;

/** The filters of `GET /audit/decisions` and of the export, validated. */
export interface DecisionFilters {
  campaignId?: string;
  customerId?: string;
  flow?: 'scheduled' | 'triggered';
  allowed?: boolean;
  reason?: string;
  clearanceId?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

export interface DecisionPageQuery extends DecisionFilters {
  limit: number;
  cursor?: DecisionCursor;
}

const identifier = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const isoDate = z.iso
  .datetime({
    offset: true,
    local: false,
    error: 'must be an ISO 8601 date-time with a zone, e.g. 2026-12-01T00:00:00Z',
  })
  .transform((value) => new Date(value));

const FILTERS = {
  campaignId: identifier,
  customerId: identifier,
  flow: z.enum(['scheduled', 'triggered'], { error: 'must be scheduled or triggered' }),
  allowed: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((value) => value === 'true'),
  reason: z.enum(REASON_CODES, { error: `must be one of ${REASON_CODES.join(', ')}` }),
  clearanceId: z.uuid({ error: 'must be a uuid' }),
  from: isoDate,
  to: isoDate,
};

const PAGING = {
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`),
  cursor: z.string().min(1),
};

type Query = Record<string, unknown>;

/** Reads the filters; unknown parameters and bad values are one 400 that names each parameter. */
export function parseDecisionFilters(query: Query, extraAllowed: readonly string[] = []): DecisionFilters {
  return parse(query, FILTERS, extraAllowed);
}

export function parseDecisionPageQuery(query: Query): DecisionPageQuery {
  const { limit, cursor, ...filters } = parse(query, { ...FILTERS, ...PAGING }, []) as DecisionFilters & {
    limit?: number;
    cursor?: string;
  };

  return {
    ...filters,
    limit: limit ?? DEFAULT_PAGE_SIZE,
    cursor: cursor === undefined ? undefined : decodeCursor(cursor),
  };
}

function parse(query: Query, schemas: Record<string, z.ZodType>, extraAllowed: readonly string[]): Query {
  const problems: { parameter: string; message: string }[] = [];
  const values: Query = {};
  for (const [name, raw] of Object.entries(query)) {
    const schema = schemas[name];
    if (extraAllowed.includes(name)) {
      continue;
    }
    if (!schema) {
      problems.push({ parameter: name, message: `${name} is not a known parameter` });
      continue;
    }
    if (Array.isArray(raw)) {
      problems.push({ parameter: name, message: `${name} may be given once` });
      continue;
    }
    const result = schema.safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      problems.push({ parameter: name, message: `${name} ${result.error.issues[0]?.message ?? 'is invalid'}` });
    }
  }
  const { from, to } = values as { from?: Date; to?: Date };
  if (from && to && from.getTime() > to.getTime()) {
    problems.push({ parameter: 'from', message: 'from must not be after to' });
  }
  if (problems.length > 0) {
    throw new BadRequestException({
      message: problems.map((problem) => problem.message).join('; '),
      parameters: problems.map((problem) => problem.parameter),
    });
  }

  return values;
}
