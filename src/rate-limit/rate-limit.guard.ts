import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpException, HttpStatus, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { addressKey, clientAddressResolver } from '../common/client-address.js';
import { allowAnyOrigin } from '../common/cors.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RATE_LIMITED } from './rate-limited.decorator.js';
import { RateLimiter } from './rate-limiter.service.js';

/**
 * RATE_LIMIT_PER_MINUTE on the handlers marked `@RateLimited()`, per client address (resolved with TRUST_PROXY;
 * an IPv6 address by its /64). Refusals are counted and answered in the service's error format with
 * `Retry-After`, readable cross-origin. A global guard, registered only when a limit is set (RateLimitModule).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly clientAddress: (req: IncomingMessage) => string;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly reflector: Reflector,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {
    this.clientAddress = clientAddressResolver(config.trustProxy);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!this.reflector.get<boolean>(RATE_LIMITED, context.getHandler())) return true;
    return this.check(context);
  }

  private async check(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const wait = await this.limiter.consume(addressKey(this.clientAddress(http.getRequest<IncomingMessage>())));
    if (wait === 0) return true;
    this.metrics.eventRejected('rate_limit');
    const res = http.getResponse<ServerResponse>();
    allowAnyOrigin(res);
    res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
    throw new HttpException(
      {
        statusCode: HttpStatus.TOO_MANY_REQUESTS,
        error: 'Too Many Requests',
        message: `More than ${this.config.rateLimitPerMinute} events per minute from this address (RATE_LIMIT_PER_MINUTE)`,
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
