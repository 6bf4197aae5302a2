import { createHash } from 'node:crypto';

/** The `prev_hash` of the first record of the chain: 32 zero bytes. */
export const GENESIS_HASH = Buffer.alloc(32);

/** A decision's audited fields as the verifier reads them (times already as UTC text, jsonb columns as text). */
export interface CanonicalFields {
  id: string;
  decidedAt: string;
  flow: string;
  campaignId: string | null;
  actionId: string | null;
  seriesId: string | null;
  clearanceId: string | null;
  customerId: string;
  isVisitor: boolean;
  allowed: boolean;
  mode: string;
  policy: string;
  reasonCodes: (string | null)[] | null;
  reasonsJson: string;
  checksJson: string;
  latencyMs: number | null;
  recordedAt: string;
}

/** SQL that renders a timestamptz column as the canonical form's time: UTC, microseconds, `Z`. */
export const CANONICAL_TIME_SQL = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** A string as PostgreSQL's JSON output escapes it: only `"`, `\` and control characters are escaped. */
function jsonString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (char === '"') {
      out += '\\"';
    } else if (char === '\\') {
      out += '\\\\';
    } else if (char === '\n') {
      out += '\\n';
    } else if (char === '\r') {
      out += '\\r';
    } else if (char === '\t') {
      out += '\\t';
    } else if (char === '\b') {
      out += '\\b';
    } else if (char === '\f') {
      out += '\\f';
    } else if (code < 0x20) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += char;
    }
  }

  return `${out}"`;
}

function nullable(value: string | null, render: (value: string) => string): string {
  return value === null ? 'null' : render(value);
}

/**
 * The canonical text of a decision, byte for byte what `audit_chain.canonical_text` returns in PostgreSQL
 * (`json_build_array(...)::text`): `[1, id, decided_at, flow, campaign_id, action_id, series_id, clearance_id,
 * customer_id, is_visitor, allowed, mode, policy, reason_codes, reasons, checks, latency_ms, recorded_at]`, items
 * separated by `, `; a text array printed as `["a","b"]`; jsonb columns as their jsonb text.
 */
export function canonicalText(fields: CanonicalFields): string {
  const reasonCodes =
    fields.reasonCodes === null
      ? 'null'
      : `[${fields.reasonCodes.map((code) => nullable(code, jsonString)).join(',')}]`;
  const items = [
    '1',
    jsonString(fields.id),
    jsonString(fields.decidedAt),
    jsonString(fields.flow),
    nullable(fields.campaignId, jsonString),
    nullable(fields.actionId, jsonString),
    nullable(fields.seriesId, jsonString),
    nullable(fields.clearanceId, jsonString),
    jsonString(fields.customerId),
    String(fields.isVisitor),
    String(fields.allowed),
    jsonString(fields.mode),
    jsonString(fields.policy),
    reasonCodes,
    fields.reasonsJson,
    fields.checksJson,
    fields.latencyMs === null ? 'null' : String(fields.latencyMs),
    jsonString(fields.recordedAt),
  ];

  return `[${items.join(', ')}]`;
}

/** `sha256(prev_hash || utf8(canonical text))`: the link of one record to the one before it. */
export function chainHash(prevHash: Buffer, canonical: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonical, 'utf8').digest();
}
