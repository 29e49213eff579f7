import type { IncomingMessage } from 'node:http';
import { clientAddressResolver } from '../common/client-address.js';
import { allowAnyOrigin } from '../common/cors.js';
import { HttpException, HttpStatus, Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RATE_LIMITED } from './rate-limited.decorator.js';

/**
 * @nestjs/throttler's guard, for the handlers marked `@RateLimited()` only, keyed on the client address that
 * clientAddress() resolves with TRUST_PROXY (IPv6 addresses grouped by /64, as the throttler does). Refusals are
 * counted and answered in the service's error format, readable cross-origin; `Retry-After` is set by the
 * throttler before.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private readonly clientAddress: (req: IncomingMessage) => string;

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {
    super(options, storage, reflector);
    this.clientAddress = clientAddressResolver(config.trustProxy);
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return super.getTracker({ ip: this.clientAddress(req as unknown as IncomingMessage) });
  }

  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    return Promise.resolve(!this.reflector.get<boolean>(RATE_LIMITED, context.getHandler()));
  }

  protected override throwThrottlingException(context: ExecutionContext): Promise<void> {
    this.metrics.eventRejected('rate_limit');
    allowAnyOrigin(context.switchToHttp().getResponse<Response>());
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
