import { LogLevel } from '@app/config';
import { redactUrl, REDACTED_LOG_PATHS } from '@app/observability';
import { randomUUID } from 'node:crypto';
import { IncomingHttpHeaders } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import { Params } from 'nestjs-pino';

export const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTABLE_REQUEST_ID = /^[\w.:-]{1,128}$/;
const QUIET_PATHS = ['/health/live', '/health/ready', '/metrics'];

/** The caller's request id when it is well formed, or a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const offered = headers[REQUEST_ID_HEADER];

  return typeof offered === 'string' && ACCEPTABLE_REQUEST_ID.test(offered) ? offered : randomUUID();
}

/**
 * Structured JSON logs with a request id on every line. Requests are logged by method, redacted URL and status,
 * never with their headers or bodies, so that tokens and customer payloads stay out of the logs.
 */
export function buildLoggerParams(level: LogLevel): Params {
  return {
    // The triggered gateway is the busiest endpoint and every one of its calls already leaves an audit record and
    // its metrics: no access-log line per call, and no per-request logger on its hot path.
    exclude: [{ method: RequestMethod.POST, path: 'optimove/triggered' }],
    pinoHttp: {
      level,
      redact: { paths: REDACTED_LOG_PATHS, censor: '[REDACTED]' },
      autoLogging: { ignore: (req) => QUIET_PATHS.includes((req.url ?? '').split('?')[0] ?? '') },
      customLogLevel: (_req, res, error) => {
        if (error || res.statusCode >= 500) {
          return 'error';
        }

        return res.statusCode >= 400 ? 'warn' : 'info';
      },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.url),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
