import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Registry } from 'prom-client';

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics of this replica.' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ schema: { type: 'string', example: '# TYPE process_cpu_seconds_total counter' } })
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}
