const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/** Where a group of elements lies in the chunks: from (chunk, byte) to (chunk, byte), end exclusive. */
interface Span {
  fromChunk: number;
  fromByte: number;
  toChunk: number;
  toByte: number;
}

function decode(chunks: readonly Buffer[], span: Span): string {
  if (span.fromChunk === span.toChunk) {
    return chunks[span.fromChunk].toString('utf8', span.fromByte, span.toByte);
  }
  const parts = [chunks[span.fromChunk].subarray(span.fromByte)];
  for (let i = span.fromChunk + 1; i < span.toChunk; i++) {
    parts.push(chunks[i]);
  }
  parts.push(chunks[span.toChunk].subarray(0, span.toByte));

  return Buffer.concat(parts).toString('utf8');
}

/**
 * Parses a JSON array held as raw response chunks in groups of about `groupBytes`, cut at top-level commas, so
 * that no string or buffer the size of the whole body is ever made: a 10,000-row page never becomes one large
 * string in V8's large-object space, only short-lived strings of a few dozen kilobytes. Structural characters are
 * ASCII, so scanning bytes is safe with multi-byte UTF-8. Answers the groups of elements, or undefined when the body
 * is not a single well-formed JSON array (the caller then reads it the slow, lenient way).
 */
export function parseJsonArrayInGroups(chunks: readonly Buffer[], groupBytes = 48 * 1024): unknown[][] | undefined {
  const groups: unknown[][] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let started = false;
  let ended = false;
  let groupStart: { chunk: number; byte: number } | undefined;
  let groupSize = 0;
  let cutAtComma = false;
  const flush = (chunk: number, byte: number): boolean => {
    if (!groupStart) {
      return true;
    }
    const text = decode(chunks, {
      fromChunk: groupStart.chunk,
      fromByte: groupStart.byte,
      toChunk: chunk,
      toByte: byte,
    });
    groupStart = undefined;
    groupSize = 0;
    if (text.trim() === '') {
      // Only `[]` has nothing between its brackets; an empty group after a cut is a stray comma.
      return !cutAtComma;
    }
    try {
      groups.push(JSON.parse(`[${text}]`) as unknown[]);

      return true;
    } catch {
      return false;
    }
  };

  for (let c = 0; c < chunks.length; c++) {
    const bytes = chunks[c];
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (inString) {
        if (escaped) {
          escaped = false;
        } else if (byte === BACKSLASH) {
          escaped = true;
        } else if (byte === QUOTE) {
          inString = false;
        }
        continue;
      }
      if (byte <= 0x20) {
        continue;
      }
      if (ended) {
        return undefined;
      }
      if (!started) {
        if (byte !== OPEN_BRACKET) {
          return undefined;
        }
        started = true;
        depth = 1;
        groupStart = { chunk: c, byte: i + 1 };
        continue;
      }
      if (byte === QUOTE) {
        inString = true;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        depth++;
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) {
          if (!flush(c, i)) {
            return undefined;
          }
          ended = true;
        }
      } else if (byte === COMMA && depth === 1 && groupStart && groupSize >= groupBytes) {
        if (!flush(c, i)) {
          return undefined;
        }
        cutAtComma = true;
        groupStart = { chunk: c, byte: i + 1 };
      }
    }
    groupSize += bytes.length;
  }

  return ended ? groups : undefined;
}
