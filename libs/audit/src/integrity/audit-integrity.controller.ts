import { BadRequestException, Controller, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { AuditAccessGuard, RequireAdmin } from '../api/audit-access.guard';
import { AuditChainVerification, verifyAuditChain } from './chain-verifier';

function position(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  if (!/^[1-9][0-9]{0,15}$/.test(value)) {
    throw new BadRequestException(`${name} must be a positive integer`);
  }

  return Number(value);
}

/** Operations on the audit's tamper evidence; admin keys only. */
@ApiTags('audit')
@ApiBearerAuth()
@UseGuards(AuditAccessGuard)
@RequireAdmin()
@Controller('admin/audit')
export class AuditIntegrityController {
  constructor(private readonly dataSource: DataSource) {}

  @Post('verify')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Recompute the hash chain of the decisions and report the first altered, removed or moved record.',
  })
  @ApiQuery({ name: 'fromSeq', required: false, description: 'first chain position to check (default 1)' })
  @ApiQuery({ name: 'toSeq', required: false, description: 'last chain position to check (default the head)' })
  @ApiOkResponse({
    schema: {
      example: {
        ok: false,
        checked: 41,
        fromSeq: 1,
        toSeq: 90,
        fault: { kind: 'altered', seq: 42, id: 'uuid', message: '...' },
      },
    },
  })
  verify(@Query('fromSeq') fromSeq?: string, @Query('toSeq') toSeq?: string): Promise<AuditChainVerification> {
    return verifyAuditChain(this.dataSource, {
      fromSeq: position('fromSeq', fromSeq),
      toSeq: position('toSeq', toSeq),
    });
  }
}
