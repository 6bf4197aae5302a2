import { AuditAccessGuard, RequireAdmin } from '@app/audit';
import {
  Controller,
  HttpCode,
  Post,
  ServiceUnavailableException,
  UseGuards,
  BadGatewayException,
} from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  OptimoveRegistration,
  RegistrationResult,
  RegistrationUnavailableError,
} from './optimove-registration.service';

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(AuditAccessGuard)
@RequireAdmin()
@Controller('admin/optimove')
export class OptimoveRegistrationController {
  constructor(private readonly registration: OptimoveRegistration) {}

  @Post('register')
  @HttpCode(200)
  @ApiOperation({ summary: 'Registers the event-5 listener and the triggered gateway with Optimove now.' })
  @ApiOkResponse({
    schema: {
      example: {
        listenerUrl: 'https://clearance.brand.example/optimove/events?token=[REDACTED]',
        gatewayUrl: 'https://clearance.brand.example/optimove/triggered?token=[REDACTED]',
        gatewayTimeoutMs: 2000,
        changed: true,
      },
    },
  })
  @ApiServiceUnavailableResponse({ description: 'Optimove or the tokens are not configured.' })
  @ApiBadGatewayResponse({ description: 'Optimove refused or did not answer; the message says which call.' })
  async register(): Promise<RegistrationResult> {
    try {
      return await this.registration.register(true);
    } catch (error) {
      if (error instanceof RegistrationUnavailableError) {
        throw new ServiceUnavailableException(error.message);
      }
      throw new BadGatewayException(error instanceof Error ? error.message : 'Optimove registration failed');
    }
  }
}
