import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { SubscriberTokenGuard } from '../auth/subscriber-token.guard.js';
import { DocumentMetrics } from '../openapi/api-docs.decorators.js';
import { MetricsService } from './metrics.service.js';

@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Prometheus text format; needs a subscriber token (static or JWT) when any is configured. */
  @Get()
  @UseGuards(SubscriberTokenGuard)
  @DocumentMetrics()
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.metrics.render();
    res.setHeader('Content-Type', this.metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
  }
}
