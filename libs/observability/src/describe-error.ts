/** What a log line or a reason text says of a thrown value: an Error's message, anything else as text. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
