import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { SseHub } from '../events/sse-hub.service.js';

/** Reports the SSE subscribers of this instance; down only when no more can connect. */
@Injectable()
export class SubscribersHealthIndicator {
  constructor(
    private readonly hub: SseHub,
    private readonly indicators: HealthIndicatorService,
  ) {}

  check(key = 'subscribers') {
    const { subscribers, max, disconnected } = this.hub.stats();
    const session = this.indicators.check(key);
    const data = { count: subscribers, max, disconnected };
    return subscribers < max ? session.up(data) : session.down(data);
  }
}
