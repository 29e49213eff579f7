import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { likelyCause, redisConnection, type RedisConnection } from '../common/redis-connection.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';

const WINDOW_SECONDS = 60;

/**
 * RATE_LIMIT_PER_MINUTE's count per client address, in fixed one-minute windows: one counter per address, so a
 * request costs the same however many came before it. With REDIS_URL the count is shared by every instance through
 * Redis (one atomic script per request; an address past its limit is then refused from memory until its window
 * ends). While Redis cannot answer, each instance counts alone, as without Redis: logged once a minute, counted in
 * pillarbox_rate_limit_fallbacks_total.
 */
@Injectable()
export class RateLimiter implements OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private readonly local: RateLimiterMemory;
  private readonly shared?: RateLimiterRedis;
  private readonly connection?: RedisConnection;
  private lastWarnAt = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    const points = config.rateLimitPerMinute;
    this.local = new RateLimiterMemory({ points, duration: WINDOW_SECONDS });
    if (!config.redisUrl) return;
    this.connection = redisConnection(config, 'pillarbox-dispatcher-rate-limit');
    // Errors are reported by consume(), where they change what happens; ioredis would log them unhandled.
    this.connection.on('error', () => undefined);
    this.shared = new RateLimiterRedis({
      storeClient: this.connection,
      points,
      duration: WINDOW_SECONDS,
      keyPrefix: `${config.redisChannel}:rate-limit`,
      rejectIfRedisNotReady: true,
      inMemoryBlockOnConsumed: points + 1,
      inMemoryBlockDuration: WINDOW_SECONDS,
    });
  }

  /** Counts one event of `key` (a client address); resolves to 0 if it is allowed, else the ms until it would be. */
  async consume(key: string): Promise<number> {
    try {
      return await this.waitOf(this.shared ?? this.local, key);
    } catch (err) {
      this.metrics.rateLimitFallbacks.inc();
      const now = Date.now();
      if (now - this.lastWarnAt >= 60_000) {
        this.lastWarnAt = now;
        this.logger.warn(
          `The shared rate-limit count in Redis is unavailable (${likelyCause((err as Error).message, this.config)}): ` +
            'each instance counts alone meanwhile',
        );
      }
      return this.waitOf(this.local, key);
    }
  }

  private async waitOf(limiter: RateLimiterAbstract, key: string): Promise<number> {
    try {
      await limiter.consume(key);
      return 0;
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) return Math.max(1, refusal.msBeforeNext);
      throw refusal;
    }
  }

  onModuleDestroy(): void {
    this.connection?.disconnect();
  }
}
