import { RequireAdmin, AuditAccessGuard } from '@app/audit';
import { describeError } from '@app/observability';
import { parseOptimoveTime } from '@app/optimove';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Logger,
  Post,
  Query,
  ServiceUnavailableException,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ClearanceIntake, IntakeResult } from './clearance-intake.service';
import { MalformedNotificationError } from './event-notification';
import { SCHEDULED_CLEARANCE_OPTIONS } from './scheduled-clearance.module-definition';
import { ScheduledClearanceOptions } from './scheduled-clearance.options';
import { tokenMatches } from './token';

const NOTIFICATION_EXAMPLE = {
  EventTypeID: 5,
  TimeStamp: '2026-12-03 10:00:00',
  CampaignID: 1359,
  ClearanceRequiredBy: '2026-12-03 10:45:00',
};

/** Where Optimove's event notifications arrive (event type 5 starts a clearance). */
@ApiTags('optimove')
@Controller('optimove')
export class ClearanceListenerController {
  private readonly logger = new Logger(ClearanceListenerController.name);

  constructor(
    private readonly intake: ClearanceIntake,
    @Inject(SCHEDULED_CLEARANCE_OPTIONS) private readonly options: ScheduledClearanceOptions,
  ) {}

  @Post('events')
  @HttpCode(200)
  @ApiOperation({ summary: "Optimove's event listener: event type 5 opens a clearance, committed before the answer." })
  @ApiBody({ schema: { example: NOTIFICATION_EXAMPLE } })
  @ApiOkResponse({ schema: { example: { clearanceId: '5f0c7a52-2a8e-4f0e-8a57-0c1d7f3b9e21' } } })
  @ApiBadRequestResponse({
    schema: {
      example: { statusCode: 400, error: 'Bad Request', message: 'CampaignID is required', field: 'CampaignID' },
    },
  })
  @ApiUnauthorizedResponse({ description: 'Wrong or missing token.' })
  @ApiServiceUnavailableResponse({ description: 'The database is unreachable; Optimove may retry.' })
  receive(@Query('token') token: unknown, @Body() body: unknown): Promise<{ clearanceId: string | null }> {
    return this.handle(token, body);
  }

  @Get('events')
  @ApiOperation({ summary: 'The same listener, for a notification sent as query parameters.' })
  receiveAsQuery(@Query() query: Record<string, unknown>): Promise<{ clearanceId: string | null }> {
    const { token, ...fields } = query;

    return this.handle(token, fields);
  }

  private async handle(token: unknown, body: unknown): Promise<{ clearanceId: string | null }> {
    if (!tokenMatches(this.options.listenerToken, token)) {
      throw new UnauthorizedException('the listener token is missing or wrong');
    }
    const result = await guardStorage(() => this.intake.receiveNotification(body), this.logger);

    return { clearanceId: result.clearanceId };
  }
}

/** Operations on clearances; admin keys only. */
@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(AuditAccessGuard)
@RequireAdmin()
@Controller('admin')
export class ClearanceAdminController {
  private readonly logger = new Logger(ClearanceAdminController.name);

  constructor(
    private readonly intake: ClearanceIntake,
    @Inject(SCHEDULED_CLEARANCE_OPTIONS) private readonly options: ScheduledClearanceOptions,
  ) {}

  @Post('clearances')
  @HttpCode(200)
  @ApiOperation({ summary: 'Starts a clearance by hand, deduplicated like a notification.' })
  @ApiBody({ schema: { example: { campaignId: '1359', clearanceRequiredBy: '2026-12-03T10:45:00Z' } } })
  @ApiOkResponse({
    schema: { example: { clearanceId: '5f0c7a52-2a8e-4f0e-8a57-0c1d7f3b9e21', outcome: 'clearance_created' } },
  })
  @ApiBadRequestResponse({ description: 'A missing or malformed field, named.' })
  async start(@Body() body: unknown): Promise<IntakeResult> {
    const { campaignId, clearanceRequiredBy } = this.readRequest(body);

    return guardStorage(() => this.intake.requestClearance(campaignId, clearanceRequiredBy), this.logger);
  }

  private readRequest(body: unknown): { campaignId: string; clearanceRequiredBy: Date } {
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const campaignId =
      typeof fields.campaignId === 'number' && Number.isSafeInteger(fields.campaignId)
        ? String(fields.campaignId)
        : fields.campaignId;
    if (typeof campaignId !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(campaignId)) {
      throw new BadRequestException({
        message: 'campaignId must be a number or an identifier string',
        field: 'campaignId',
      });
    }
    const raw = fields.clearanceRequiredBy;
    try {
      if (typeof raw !== 'string') {
        throw new Error('not a string');
      }

      return { campaignId, clearanceRequiredBy: parseOptimoveTime(raw, this.options.timeZone) };
    } catch {
      throw new BadRequestException({
        message: 'clearanceRequiredBy must be ISO 8601 with an offset, or YYYY-MM-DD HH:MM:SS in the Optimove zone',
        field: 'clearanceRequiredBy',
      });
    }
  }
}

/** Malformed input is the caller's 400; any other failure means the clearance could not be committed: 503. */
async function guardStorage<T>(work: () => Promise<T>, logger: Logger): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof MalformedNotificationError) {
      throw new BadRequestException({ message: error.message, field: error.field });
    }
    logger.error(`clearance could not be committed: ${describeError(error)}`);
    throw new ServiceUnavailableException('the clearance could not be committed; try again');
  }
}
