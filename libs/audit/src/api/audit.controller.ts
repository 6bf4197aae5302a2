import {
  BadRequestException,
  Controller,
  Get,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import { AuditAccessGuard } from './audit-access.guard';
import { CampaignSummary, CampaignSummaryReader } from './campaign-summary';
import { ClearanceReader, ClearanceView } from './clearance-reader';
import { parseDecisionFilters, parseDecisionPageQuery } from './decision-filters';
import { DecisionPage, DecisionReader } from './decision-reader';
import { csvHeader, toCsvLine } from './export-format';
import { CAMPAIGN_SUMMARY_EXAMPLE, CLEARANCE_EXAMPLE, DECISION_EXAMPLE, ERROR_EXAMPLES } from './openapi-examples';

const FILTER_QUERIES = [
  { name: 'campaignId', description: 'Optimove campaign id' },
  { name: 'customerId', description: 'Optimove customer (or visitor) id' },
  { name: 'flow', enum: ['scheduled', 'triggered'] },
  { name: 'allowed', enum: ['true', 'false'] },
  { name: 'reason', description: 'a reason code, e.g. COMPLIANCE_COUNTRY' },
  { name: 'clearanceId', description: 'uuid of a clearance' },
  { name: 'from', description: 'ISO 8601, inclusive' },
  { name: 'to', description: 'ISO 8601, exclusive' },
];

function ApiDecisionFilters(): MethodDecorator {
  return (target, key, descriptor) => {
    for (const query of FILTER_QUERIES) {
      ApiQuery({ required: false, type: String, ...query })(target, key, descriptor);
    }
  };
}

@ApiTags('audit')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'No valid audit key.', schema: { example: ERROR_EXAMPLES.unauthorized } })
@ApiForbiddenResponse({ description: 'The key may not call this.', schema: { example: ERROR_EXAMPLES.forbidden } })
@ApiTooManyRequestsResponse({
  description: 'The key exceeded its rate; see Retry-After.',
  schema: { example: ERROR_EXAMPLES.tooManyRequests },
})
@UseGuards(AuditAccessGuard)
@Controller('audit')
export class AuditController {
  constructor(
    private readonly decisions: DecisionReader,
    private readonly clearances: ClearanceReader,
    private readonly summaries: CampaignSummaryReader,
  ) {}

  @Get('decisions')
  @ApiOperation({ summary: 'Decisions matching the filters, newest first, with a keyset cursor.' })
  @ApiDecisionFilters()
  @ApiQuery({ name: 'limit', required: false, description: 'page size, 1 to 1000 (default 100)' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiOkResponse({
    schema: { example: { items: [DECISION_EXAMPLE], nextCursor: 'MjAyNi0xMi0wM1QxMjowMDowMC4wMDAwMDBafDk' } },
  })
  @ApiBadRequestResponse({ description: 'A bad parameter, named.', schema: { example: ERROR_EXAMPLES.badParameter } })
  listDecisions(@Query() query: Record<string, unknown>): Promise<DecisionPage> {
    return this.decisions.page(parseDecisionPageQuery(query));
  }

  @Get('decisions/export')
  @ApiOperation({ summary: 'Every matching decision, streamed as NDJSON or CSV, newest first.' })
  @ApiQuery({ name: 'format', required: false, enum: ['ndjson', 'csv'] })
  @ApiDecisionFilters()
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiOkResponse({ schema: { type: 'string', example: JSON.stringify(DECISION_EXAMPLE) } })
  @ApiBadRequestResponse({ description: 'A bad parameter, named.', schema: { example: ERROR_EXAMPLES.badParameter } })
  exportDecisions(@Query() query: Record<string, unknown>, @Res() reply: FastifyReply): void {
    const filters = parseDecisionFilters(query, ['format']);
    const format = parseFormat(query.format);
    const decisions = this.decisions;
    async function* lines(): AsyncGenerator<string> {
      if (format === 'csv') {
        yield csvHeader();
        for await (const batch of decisions.scan(filters)) {
          yield batch.map(toCsvLine).join('');
        }
      } else {
        for await (const batch of decisions.scanJson(filters)) {
          yield `${batch.join('\n')}\n`;
        }
      }
    }
    const extension = format === 'csv' ? 'csv' : 'ndjson';
    void reply
      .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="decisions.${extension}"`)
      .send(Readable.from(lines()));
  }

  @Get('decisions/:id')
  @ApiOperation({ summary: 'One decision by id.' })
  @ApiOkResponse({ schema: { example: DECISION_EXAMPLE } })
  @ApiNotFoundResponse({ schema: { example: ERROR_EXAMPLES.notFound } })
  async getDecision(@Param('id', new ParseUUIDPipe()) id: string): Promise<unknown> {
    const decision = await this.decisions.findById(id);
    if (!decision) {
      throw new NotFoundException(`no decision ${id}`);
    }

    return decision;
  }

  @Get('clearances')
  @ApiOperation({ summary: 'Clearances, newest first (at most 200), by campaign and status.' })
  @ApiQuery({ name: 'campaignId', required: false })
  @ApiQuery({
    name: 'status',
    required: false,
    enum: ['pending', 'fetching', 'deciding', 'completed', 'expired', 'failed'],
  })
  @ApiOkResponse({ schema: { example: [CLEARANCE_EXAMPLE] } })
  @ApiBadRequestResponse({ schema: { example: ERROR_EXAMPLES.badParameter } })
  listClearances(@Query() query: Record<string, unknown>): Promise<ClearanceView[]> {
    return this.clearances.list(query);
  }

  @Get('clearances/:id')
  @ApiOperation({ summary: 'One clearance with its live counts.' })
  @ApiOkResponse({ schema: { example: CLEARANCE_EXAMPLE } })
  @ApiNotFoundResponse({ schema: { example: ERROR_EXAMPLES.notFound } })
  async getClearance(@Param('id', new ParseUUIDPipe()) id: string): Promise<ClearanceView> {
    const clearance = await this.clearances.findById(id);
    if (!clearance) {
      throw new NotFoundException(`no clearance ${id}`);
    }

    return clearance;
  }

  @Get('campaigns/:campaignId/summary')
  @ApiOperation({ summary: "Counts of a campaign's decisions by flow, outcome and reason." })
  @ApiOkResponse({ schema: { example: CAMPAIGN_SUMMARY_EXAMPLE } })
  summarise(@Param('campaignId') campaignId: string): Promise<CampaignSummary> {
    return this.summaries.summarise(campaignId);
  }
}

function parseFormat(raw: unknown): 'ndjson' | 'csv' {
  if (raw === undefined || raw === 'ndjson') {
    return 'ndjson';
  }
  if (raw === 'csv') {
    return 'csv';
  }
  throw new BadRequestException({ message: 'format must be ndjson or csv', parameters: ['format'] });
}
