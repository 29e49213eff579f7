import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config.js';

const MiB = 1024 * 1024;

/**
 * Reports the resident memory of the process against the container's memory limit (the cgroup's, read at start):
 * down above HEALTH_MAX_RSS_PERCENT of it, so that an instance near the point where the kernel kills it shows it
 * first. The heap check alone misses what lives outside the heap (sockets, buffers, the runtime itself). Without
 * a limit there is nothing to compare with: always up, the RSS shown.
 */
@Injectable()
export class RssHealthIndicator {
  constructor(
    private readonly config: AppConfig,
    private readonly indicators: HealthIndicatorService,
  ) {}

  check(key = 'memory_rss', rss = process.memoryUsage.rss()) {
    const session = this.indicators.check(key);
    const limit = this.config.memoryLimitBytes;
    const rssMb = Math.round(rss / MiB);
    if (limit === undefined) return session.up({ rssMb, limitMb: null });
    const percent = Math.round((1000 * rss) / limit) / 10;
    const data = { rssMb, limitMb: Math.round(limit / MiB), percent, maxPercent: this.config.healthMaxRssPercent };
    return percent <= this.config.healthMaxRssPercent ? session.up(data) : session.down(data);
  }
}
