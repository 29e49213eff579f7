import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  All,
  Controller,
  Get,
  MethodNotAllowedException,
  Options,
  Post,
  Query,
  Req,
  Res,
  ServiceUnavailableException,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import { grantOf } from '../auth/grant.js';
import { clientAddressResolver } from '../common/client-address.js';
import { allowAnyOrigin, preflightHeaders } from '../common/cors.js';
import { ShutdownState } from '../common/shutdown-state.service.js';
import { AppConfig } from '../config/app-config.js';
import { DocumentIngest, DocumentStream } from '../openapi/api-docs.decorators.js';
import { RateLimited } from '../rate-limit/rate-limited.decorator.js';
import { IngestService } from './ingest.service.js';
import { SseHub } from './sse-hub.service.js';
import { StreamAuthGuard } from './stream-auth.guard.js';
import { checkQueryLength, parseStreamFilter, restrictFilter } from './stream-filter.js';

export const INGEST_PATH = 'api/events';
const INGEST_METHODS = 'POST, OPTIONS';
const STREAM_METHODS = 'GET, HEAD, OPTIONS';

@Controller()
export class EventsController {
  private readonly clientAddress: (req: IncomingMessage) => string;

  constructor(
    private readonly ingestion: IngestService,
    private readonly hub: SseHub,
    private readonly shutdown: ShutdownState,
    config: AppConfig,
  ) {
    this.clientAddress = clientAddressResolver(config.trustProxy);
  }

  /** Accepts one event (JSON object, any Content-Type, optionally compressed) and broadcasts it. */
  @Post(INGEST_PATH)
  @RateLimited()
  @DocumentIngest()
  async ingest(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    if (this.hub.carriesStream(req.socket)) return this.ingestion.refuseAfterStream(req);
    return this.ingestion.accept(req, res, this.clientAddress(req));
  }

  @Options(INGEST_PATH)
  @ApiExcludeEndpoint()
  ingestPreflight(@Res() res: ServerResponse): void {
    res.writeHead(204, preflightHeaders(INGEST_METHODS)).end();
  }

  @All(INGEST_PATH)
  @ApiExcludeEndpoint()
  ingestOtherMethods(@Res({ passthrough: true }) res: ServerResponse): never {
    res.setHeader('Allow', INGEST_METHODS);
    allowAnyOrigin(res);
    throw new MethodNotAllowedException(`Use POST on /api/events`);
  }

  /**
   * The live stream of every event accepted from now on, as Server-Sent Events; `?event_name=A,B` and
   * `?session_id=X` keep only the matching events. The hub writes to the response (see docs/architecture.md).
   */
  @Get('events')
  @UseGuards(StreamAuthGuard)
  @DocumentStream()
  stream(@Req() req: IncomingMessage, @Res() res: ServerResponse, @Query() query: Record<string, unknown>): void {
    // A refusal too is readable by any origin.
    allowAnyOrigin(res);
    checkQueryLength(req.url);
    const grant = grantOf(req);
    const filter = restrictFilter(parseStreamFilter(query), grant?.filter);
    // Still served while draining (a refused EventSource would not retry); ended with the others when closing.
    if (this.shutdown.isClosing) throw new ServiceUnavailableException('The service is shutting down');
    this.hub.subscribe(req, res, filter, grant?.expiresAt);
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
