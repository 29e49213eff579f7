import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger, RequestTimeoutException } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { normalizeIp, shownAddress } from '../common/client-address.js';
import { allowAnyOrigin, CORS_HEADERS } from '../common/cors.js';
import { rejectReason } from '../common/rejection.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { checkMonitoringEvent } from '../schema/strict-schema.js';
import { readBody } from './body-reader.js';
import { EventBus } from './event-bus.service.js';
import { buildFrame, type EventCheck } from './ingest.js';

/**
 * What POST /api/events does, on Node's own request and response (the route of EventsController, which takes
 * them with `@Req()` and `@Res()`).
 */
@Injectable()
export class IngestService {
  /** STRICT_SCHEMA's check, or nothing at all when it is off. */
  private readonly check?: EventCheck;
  private readonly logger = new Logger(IngestService.name);

  constructor(
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.check = config.strictSchema ? checkMonitoringEvent : undefined;
  }

  /**
   * Reads one event (JSON object, any Content-Type, optionally compressed), broadcasts it and answers 204.
   * `clientIp` is the client's address as resolved through trusted proxies.
   * @throws HttpException (400, 408, 413, 415) for bad input, after counting it, with CORS set on `res`.
   */
  async accept(req: IncomingMessage, res: ServerResponse, clientIp: string | undefined): Promise<void> {
    const started = performance.now();
    let event: BroadcastEvent;
    try {
      const userIp = shownAddress(normalizeIp(clientIp), this.config.anonymizeUserIp);
      event = buildFrame(
        await readBody(req, res, this.config.maxEventBytes, this.config.bodyTimeoutMs),
        userIp,
        this.check,
      );
    } catch (err) {
      if (req.destroyed && !req.complete) {
        // The client left before its whole body arrived (a closed tab, a lost network): not an error, nothing to
        // answer.
        this.metrics.eventRejected('aborted');
        this.logger.debug('upload aborted by the client');
        return;
      }
      this.metrics.eventRejected(rejectReason(err));
      // Error answers are readable cross-origin too. An oversized body is drained, not read, while the
      // client sends it: closing the connection instead would make it fail to write before it reads the 413.
      allowAnyOrigin(res);
      // A client too slow to send its body is not kept: its connection closes after the 408.
      if (err instanceof RequestTimeoutException) res.setHeader('Connection', 'close');
      throw err;
    }
    this.bus.publish(event);
    this.metrics.eventsReceived.inc();
    this.metrics.ingestDuration.observe((performance.now() - started) / 1000);
    res.writeHead(204, CORS_HEADERS).end();
  }

  /**
   * A POST pipelined behind GET /events on one connection: its answer would wait behind a stream that never ends,
   * so the event is not broadcast, and the connection (stream included) is closed.
   */
  refuseAfterStream(req: IncomingMessage): void {
    this.metrics.eventRejected('after_stream');
    this.logger.warn('a request followed a stream on its connection: connection closed, the event not broadcast');
    req.socket.destroy();
  }
}
