import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { Timings } from '../config/timings.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { Backplane } from './backplane.js';
import { LocalBackplane } from './local-backplane.js';

/**
 * Provides `Backplane`: Redis pub/sub when REDIS_URL is set, otherwise the in-process one. The Redis backplane (and
 * ioredis with it) is loaded only then: an instance alone does not carry it (about 2.5 MB of RSS at start).
 */
@Module({
  imports: [MetricsModule],
  providers: [
    {
      provide: Backplane,
      useFactory: async (config: AppConfig, timings: Timings, metrics: MetricsService): Promise<Backplane> => {
        if (!config.redisUrl) return new LocalBackplane();
        const { RedisBackplane } = await import('./redis-backplane.js');
        return new RedisBackplane(config, timings, metrics);
      },
      inject: [AppConfig, Timings, MetricsService],
    },
  ],
  exports: [Backplane],
})
export class BackplaneModule {}
