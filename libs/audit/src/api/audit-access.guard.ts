import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AUDIT_API_OPTIONS } from './audit-api.module-definition';
import { AuditApiOptions, AuditApiRole } from './audit-api.options';

const REQUIRED_ROLE = 'audit:required-role';

/** Marks an endpoint as an operation: only `admin` keys may call it (auditors get 403). */
export const RequireAdmin = (): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLE, 'admin');

/** Who called: the key's role and a short fingerprint of it (never the key). */
export interface AuditPrincipal {
  role: AuditApiRole;
  fingerprint: string;
}

interface KnownKey extends AuditPrincipal {
  digest: Buffer;
}

interface Window {
  startedAt: number;
  count: number;
}

/**
 * Authenticates `Authorization: Bearer <key>` against the configured keys in constant time, enforces the role an
 * endpoint needs, limits each key's request rate (429 with `Retry-After`), and logs every call with the caller's
 * role and key fingerprint and what was asked.
 */
@Injectable()
export class AuditAccessGuard implements CanActivate {
  private readonly logger = new Logger('AuditAccess');
  private readonly keys: KnownKey[];
  private readonly windows = new Map<string, Window>();

  constructor(
    @Inject(AUDIT_API_OPTIONS) private readonly options: AuditApiOptions,
    private readonly reflector: Reflector,
  ) {
    this.keys = options.apiKeys.map(({ role, key }) => ({ role, digest: digest(key), fingerprint: fingerprint(key) }));
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest & { auditPrincipal?: AuditPrincipal }>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const principal = this.authenticate(request.headers.authorization);
    if (!principal) {
      void reply.header('www-authenticate', 'Bearer');
      throw new UnauthorizedException('a valid audit API key is required: Authorization: Bearer <key>');
    }

    const required = this.reflector.getAllAndOverride<AuditApiRole | undefined>(REQUIRED_ROLE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (required === 'admin' && principal.role !== 'admin') {
      this.logger.warn(
        { role: principal.role, key: principal.fingerprint, path: request.routeOptions.url },
        'forbidden',
      );
      throw new ForbiddenException('this operation needs an admin key');
    }

    const retryAfterSeconds = this.consume(principal.fingerprint);
    if (retryAfterSeconds > 0) {
      void reply.header('retry-after', String(retryAfterSeconds));
      throw new HttpException(
        {
          statusCode: HttpStatus.TOO_MANY_REQUESTS,
          error: 'Too Many Requests',
          message: 'rate limit of this key reached',
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }

    request.auditPrincipal = principal;
    this.logger.log(
      {
        role: principal.role,
        key: principal.fingerprint,
        method: request.method,
        route: request.routeOptions.url,
        params: request.params,
        query: request.query,
      },
      'audit API call',
    );

    return true;
  }

  private authenticate(header: string | undefined): AuditPrincipal | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match?.[1]) {
      return undefined;
    }
    const offered = digest(match[1]);
    let found: KnownKey | undefined;
    // Every key is compared, match or not, so that timing says nothing about which key (or how much of one) matched.
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, offered) && !found) {
        found = key;
      }
    }

    return found && { role: found.role, fingerprint: found.fingerprint };
  }

  /** Fixed window per key; returns 0 when allowed, else the seconds until the window resets. */
  private consume(keyFingerprint: string): number {
    const { requests, windowMs } = this.options.rateLimit;
    const now = Date.now();
    let window = this.windows.get(keyFingerprint);
    if (!window || now - window.startedAt >= windowMs) {
      window = { startedAt: now, count: 0 };
      this.windows.set(keyFingerprint, window);
    }
    if (window.count >= requests) {
      return Math.max(1, Math.ceil((window.startedAt + windowMs - now) / 1000));
    }
    window.count += 1;

    return 0;
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The first 8 hex digits of the key's SHA-256: enough to tell keys apart in logs, useless to an attacker. */
export function fingerprint(key: string): string {
  return digest(key).toString('hex').slice(0, 8);
}
