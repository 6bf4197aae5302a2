/** An answer whose body was read as JSON when it could be, else kept as text. */
export interface JsonAnswer<T = unknown> {
  status: number;
  body: T;
}

export interface JsonRequest {
  method?: 'GET' | 'POST' | 'PUT';
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A small fetch wrapper: the demo only ever talks JSON to local servers, and must never wait forever. */
export async function requestJson<T = unknown>(url: string, request: JsonRequest = {}): Promise<JsonAnswer<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  if (request.body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(url, {
    method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON: the text itself is the most useful thing to show.
  }

  return { status: response.status, body: body as T };
}

/** The body of a failed answer, shortened for an error message. */
export function describeAnswer(answer: JsonAnswer): string {
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);

  return `HTTP ${answer.status}${text ? `: ${text.slice(0, 300)}` : ''}`;
}
