import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HttpException, InternalServerErrorException, Logger, type INestApplication } from '@nestjs/common';
import proxyaddr from 'proxy-addr';
import type { AppConfig } from '../config/app-config.js';
import { CORS_HEADERS } from '../common/cors.js';
import { EventsController } from './events.controller.js';

const INGEST_PATH = '/api/events';

function isIngest(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'POST' && (url === INGEST_PATH || url.startsWith(`${INGEST_PATH}?`));
}

/** The answer Nest's exception filter gives, written without Nest: the same JSON body, with CORS. */
function sendError(res: ServerResponse, err: unknown, logger: Logger): void {
  if (!(err instanceof HttpException)) {
    if (res.destroyed || res.socket?.destroyed) return; // the client left while sending its body
    logger.error(err);
  }
  if (res.headersSent) return void res.destroy();
  const exception = err instanceof HttpException ? err : new InternalServerErrorException();
  const response = exception.getResponse();
  const body = JSON.stringify(
    typeof response === 'object' ? response : { statusCode: exception.getStatus(), message: response },
  );
  res
    .writeHead(exception.getStatus(), {
      ...CORS_HEADERS,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    })
    .end(body);
}

/**
 * Serves `POST /api/events` from the HTTP server itself, before Express, with EventsController's own handler
 * code (`acceptEvent`). Express 5 costs this route most of its time: it re-prototypes every request and
 * response (`Object.setPrototypeOf`), which keeps V8's garbage collector busy (see docs/performance.md), and
 * nothing it or Nest's router does applies to this route. Every other request, and this route's other methods,
 * go to Express as before. With RATE_LIMIT_PER_MINUTE set, the route stays with Nest, whose
 * guard applies the limit.
 */
export function serveIngestWithoutExpress(app: INestApplication, config: AppConfig): void {
  if (config.rateLimitPerMinute > 0) return;
  const controller = app.get(EventsController);
  const logger = new Logger('IngestFastLane');
  const express = app.getHttpAdapter().getInstance() as { get(setting: string): unknown };
  // Express compiled TRUST_PROXY when it was set: the same rules resolve `user_ip` on both lanes.
  const trust = express.get('trust proxy fn') as (address: string, hop: number) => boolean;
  const server = app.getHttpServer() as Server;
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  if (listeners.length !== 1)
    throw new Error(`Expected Express as the only request listener, found ${listeners.length}`);
  const [handleWithExpress] = listeners;
  server.removeListener('request', handleWithExpress);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!isIngest(req)) return handleWithExpress(req, res);
    controller.acceptEvent(req, res, proxyaddr(req, trust)).catch((err: unknown) => sendError(res, err, logger));
  });
}
