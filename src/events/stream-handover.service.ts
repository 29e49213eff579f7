import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { EventsController } from './events.controller.js';
import { hasCustomParameter, hasGlobalInterceptor, hasRouteInterceptor } from './nest-enhancers.js';
import { SseHub } from './sse-hub.service.js';

/**
 * Decides at start-up whether SseHub takes each stream of GET /events over from Nest's `@Sse()` once Nest has sent
 * its headers (see SseHub.attach()), and says it in one log line.
 *
 * Why: Nest keeps per stream, until it closes, an SseStream piped into the response, an RxJS chain, a close
 * watcher, an AbortController and a probe timer (about 10 kB of heap per idle subscriber, docs/performance.md),
 * though the hub writes every frame itself. What the handover skips: whatever Nest would do with the stream after
 * its headers: an interceptor's part (it would see the stream complete at once), and `@SseSignal()`'s signal
 * (aborted at once). So it is off when an interceptor applies to the route (global, on the controller or on the
 * handler) or a custom parameter decorator is on it. Guards, pipes, exception filters and the headers run before
 * it, as without it.
 */
@Injectable()
export class StreamHandover implements OnApplicationBootstrap {
  private readonly logger = new Logger('StreamHandover');

  constructor(
    private readonly appConfig: ApplicationConfig,
    private readonly hub: SseHub,
  ) {}

  onApplicationBootstrap(): void {
    const reasons: string[] = [];
    if (hasGlobalInterceptor(this.appConfig)) reasons.push('a global interceptor');
    if (hasRouteInterceptor(EventsController, EventsController.prototype.stream)) {
      reasons.push('an interceptor on the route');
    }
    // It may be @SseSignal(): its signal, aborted when Nest lets the stream go, would abort at once.
    if (hasCustomParameter(EventsController, 'stream')) reasons.push('a custom parameter decorator on the route');
    if (reasons.length) {
      this.logger.log(
        `GET /events: each stream stays with Nest's @Sse() until it closes, because of ${reasons.join(', ')} ` +
          '(it would see the stream end at once)',
      );
      return;
    }
    this.hub.handOverStreams();
    this.logger.log(
      "GET /events: each stream is handed over from Nest's @Sse() to SseHub once Nest has sent its headers " +
        '(Nest then releases its SseStream, RxJS chain and timer; the hub watches the connection): ' +
        'no interceptor applies to the route',
    );
  }
}
