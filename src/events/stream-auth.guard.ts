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

  canActivate(context: ExecutionContext): boolean {
    let allowed = false;
    try {
      allowed = this.tokens.canActivate(context);
    } finally {
      if (!allowed) this.metrics.subscriberDisconnected('auth');
    }
    return allowed;
  }
}
