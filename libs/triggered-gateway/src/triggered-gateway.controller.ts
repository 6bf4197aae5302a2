import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { arrivalOf, TriggeredGateway } from './triggered-gateway.service';

@ApiTags('optimove')
@Controller('optimove')
export class TriggeredGatewayController {
  constructor(@Inject(TriggeredGateway) private readonly gateway: TriggeredGateway) {}

  @Post('triggered')
  @ApiOperation({
    summary: "Optimove's conditional gateway: may this customer receive this triggered campaign now?",
    description:
      'Answers within GATEWAY_TIMEOUT_MS - GATEWAY_MARGIN_MS; allowed: true only after the audit record is committed.',
  })
  @ApiQuery({ name: 'token', required: true, description: 'GATEWAY_TOKEN' })
  @ApiBody({ schema: { type: 'object', example: { user: { user_id: 'C1', is_visitor: false }, campaign: {} } } })
  @ApiOkResponse({ schema: { type: 'object', example: { user_id: 'C1', allowed: true } } })
  async receive(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const query = request.query as { token?: unknown } | undefined;
    const answer = await this.gateway.handle(query?.token, request.body, arrivalOf(request));
    await reply.code(answer.status).send(answer.body);
  }
}
