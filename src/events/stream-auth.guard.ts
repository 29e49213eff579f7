import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SubscriberTokenGuard } from '../auth/subscriber-token.guard.js';
import { MetricsService } from '../metrics/metrics.service.js';

/** SubscriberTokenGuard on GET /events: a stream it refuses is counted as a disconnect with reason `auth`. */
@Injectable()
export class StreamAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: SubscriberTokenGuard,
    private readonly metrics: MetricsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    try {
      return await this.tokens.canActivate(context);
    } catch (err) {
      this.metrics.subscriberDisconnected('auth');
      throw err;
    }
  }
}
