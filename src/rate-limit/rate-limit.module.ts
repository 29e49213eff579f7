import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { AppConfig } from '../config/app-config.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimiter } from './rate-limiter.service.js';

/**
 * RATE_LIMIT_PER_MINUTE on the handlers marked `@RateLimited()`. When it is 0 (the default: mobile carriers put
 * thousands of viewers behind one address) the module is empty and no guard is registered, so requests pay nothing.
 */
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig): DynamicModule {
    if (config.rateLimitPerMinute === 0) return { module: RateLimitModule };
    return {
      module: RateLimitModule,
      imports: [MetricsModule],
      providers: [RateLimiter, { provide: APP_GUARD, useClass: RateLimitGuard }],
    };
  }
}
