import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimiter } from './rate-limiter.service.js';

/** RATE_LIMIT_PER_MINUTE: the guard that routes wear with `@UseGuards(RateLimitGuard)`, and its counts. */
@Module({
  imports: [MetricsModule],
  providers: [RateLimiter, RateLimitGuard],
  exports: [RateLimiter, RateLimitGuard],
})
export class RateLimitModule {}
