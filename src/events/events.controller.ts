import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  All,
  Controller,
  MethodNotAllowedException,
  Options,
  Post,
  Query,
  Req,
  RequestTimeoutException,
  Res,
  ServiceUnavailableException,
  Sse,
  UseGuards,
  type MessageEvent,
} from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { SubscriberTokenGuard } from '../auth/subscriber-token.guard.js';
import { AppConfig } from '../config/app-config.js';
import { allowAnyOrigin, CORS_HEADERS, preflightHeaders } from '../common/cors.js';
import { ShutdownState } from '../common/shutdown-state.service.js';
import { DocumentIngest, DocumentStream } from '../docs/api-docs.decorators.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RateLimited } from '../rate-limit/rate-limited.decorator.js';
import { checkMonitoringEvent } from '../schema/strict-schema.js';
import { readBody } from './body-reader.js';
import { EventBus } from './event-bus.service.js';
import { buildFrame, normalizeIp, type BroadcastEvent, type EventCheck } from './ingest.js';
import { rejectReason } from './rejection.js';
import { SseHub } from './sse-hub.service.js';
import { parseStreamFilter } from './stream-filter.js';

const INGEST_METHODS = 'POST, OPTIONS';
const STREAM_METHODS = 'GET, HEAD, OPTIONS';

@Controller()
export class EventsController {
  /** STRICT_SCHEMA's check, or nothing at all when it is off. */
  private readonly check?: EventCheck;

  constructor(
    private readonly bus: EventBus,
    private readonly hub: SseHub,
    private readonly shutdown: ShutdownState,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.check = config.strictSchema ? checkMonitoringEvent : undefined;
  }

  /** Accepts one event (JSON object, any Content-Type, optionally compressed) and broadcasts it. */
  @Post('api/events')
  @RateLimited()
  @DocumentIngest()
  ingest(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.acceptEvent(req, res, req.ip);
  }

  /**
   * What POST /api/events does, on Node's own request and response, given the client's address as resolved
   * through trusted proxies. Also called straight from the HTTP server, without Express (see ingest-fast-lane.ts).
   * @throws HttpException (400, 408, 413, 415) for bad input, after counting it.
   */
  async acceptEvent(req: IncomingMessage, res: ServerResponse, clientIp: string | undefined): Promise<void> {
    const started = performance.now();
    let event: BroadcastEvent;
    try {
      const body = await readBody(req, this.config.maxEventBytes, this.config.bodyTimeoutMs);
      event = buildFrame(body, normalizeIp(clientIp), this.check);
    } catch (err) {
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

  @Options('api/events')
  @ApiExcludeEndpoint()
  ingestPreflight(@Res() res: ServerResponse): void {
    res.writeHead(204, preflightHeaders(INGEST_METHODS)).end();
  }

  @All('api/events')
  @ApiExcludeEndpoint()
  ingestOtherMethods(@Res({ passthrough: true }) res: ServerResponse): never {
    res.setHeader('Allow', INGEST_METHODS);
    allowAnyOrigin(res);
    throw new MethodNotAllowedException(`Use POST on /api/events`);
  }

  /**
   * The live stream of every event accepted from now on, as Server-Sent Events; `?event_name=A,B` and
   * `?session_id=X` keep only the matching events.
   */
  @Sse('events')
  @UseGuards(SubscriberTokenGuard)
  @DocumentStream()
  stream(@Res() res: Response, @Query() query: Record<string, unknown>): Observable<MessageEvent> {
    allowAnyOrigin(res);
    const filter = parseStreamFilter(query);
    if (this.shutdown.isShuttingDown) throw new ServiceUnavailableException('The service is shutting down');
    if (this.hub.isFull) {
      throw new ServiceUnavailableException(`Too many subscribers (MAX_SUBSCRIBERS=${this.config.maxSubscribers})`);
    }
    return this.hub.attach(res, filter);
  }

  @Options('events')
  @ApiExcludeEndpoint()
  streamPreflight(@Res() res: ServerResponse): void {
    res.writeHead(204, preflightHeaders(STREAM_METHODS)).end();
  }

  @All('events')
  @ApiExcludeEndpoint()
  streamOtherMethods(@Res({ passthrough: true }) res: ServerResponse): never {
    res.setHeader('Allow', STREAM_METHODS);
    allowAnyOrigin(res);
    throw new MethodNotAllowedException(`Use GET on /events`);
  }
}
