/** Query parameters whose values never reach a log line. */
const SECRET_QUERY_PARAMETERS = /([?&](?:token|api[_-]?key|key|access_token)=)[^&#]*/gi;

/** Header and field paths that pino blanks out wherever they appear in a logged object. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.token',
  '*.apiKey',
  '*.password',
  '*.authorization',
  '*["x-api-key"]',
];

/** `/optimove/events?token=abc` becomes `/optimove/events?token=[REDACTED]`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMETERS, '$1[REDACTED]');
}
