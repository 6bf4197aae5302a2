import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  requestId?: string;
  [field: string]: unknown;
}

/**
 * One error shape for every endpoint: `{statusCode, error, message, requestId}`. Bodies that an endpoint's contract
 * fixes (the gateway's `allowed: false`, health details) pass through unchanged; unexpected errors are logged with
 * their stack and answered with a bare 500 that reveals nothing.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const requestId = (request.raw as { id?: string }).id;
    const body = this.toBody(exception);

    void reply.status(body.statusCode).send({ ...body, requestId });
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'object') {
        return { statusCode: status, error: exception.name, message: exception.message, ...response };
      }

      return { statusCode: status, error: exception.name, message: response };
    }
    const status = statusOfFrameworkError(exception);
    if (status !== undefined) {
      return {
        statusCode: status,
        error: STATUS_CODES[status] ?? 'Client Error',
        message: (exception as Error).message,
      };
    }
    this.logger.error(exception instanceof Error ? exception : { error: String(exception) }, 'unhandled error');

    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'Internal Server Error', message: 'internal error' };
  }
}

/** Fastify's own client errors (bad JSON, body too large) carry a 4xx `statusCode`; keep it. */
function statusOfFrameworkError(exception: unknown): number | undefined {
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;

  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
