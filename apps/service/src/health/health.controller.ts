import { DatabaseHealthIndicator } from '@app/database';
import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ShutdownState } from './shutdown-state';

/** Below the probe's own timeout, so that a slow database reads as "not ready" rather than a failed probe. */
const DATABASE_PING_TIMEOUT_MS = 1_500;

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseHealthIndicator,
    private readonly shutdown: ShutdownState,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers. Touches no dependency.' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: database reachable, migrations applied, not shutting down.' })
  @ApiOkResponse({ schema: { example: { status: 'ok', info: { database: { status: 'up' } } } } })
  @ApiServiceUnavailableResponse({ description: 'Not ready; the body says which check failed.' })
  ready(): Promise<HealthCheckResult> {
    if (this.shutdown.isShuttingDown) {
      throw new ServiceUnavailableException({ status: 'error', error: { shutdown: { status: 'down' } } });
    }

    return this.health.check([
      () => this.indicators.check('shutdown').up(),
      () => this.database.check('database', DATABASE_PING_TIMEOUT_MS),
    ]);
  }
}
