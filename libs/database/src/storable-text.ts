const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * False for text that PostgreSQL's `text` cannot hold: NUL, or half of a surrogate pair (which UTF-8 cannot encode).
 * In a JSON parameter (`jsonb_to_recordset`, as the batched statements take their rows) one such value fails the
 * whole statement, every row of it.
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}
