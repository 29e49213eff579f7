import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { Backplane } from './backplane.js';
import { LocalBackplane } from './local-backplane.js';
import { RedisBackplane } from './redis-backplane.js';

/** Provides `Backplane`: Redis pub/sub when REDIS_URL is set, otherwise the in-process one. */
@Module({
  imports: [MetricsModule],
  providers: [
    {
      provide: Backplane,
      useFactory: (config: AppConfig, metrics: MetricsService): Backplane =>
        config.redisUrl ? new RedisBackplane(config, metrics) : new LocalBackplane(),
      inject: [AppConfig, MetricsService],
    },
  ],
  exports: [Backplane],
})
export class BackplaneModule {}
