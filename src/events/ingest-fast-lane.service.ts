import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import {
  HttpException,
  Injectable,
  Logger,
  type ArgumentsHost,
  type HttpServer,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ApplicationConfig, BaseExceptionFilter, HttpAdapterHost } from '@nestjs/core';
import proxyaddr from 'proxy-addr';
import { clientAddress, type TrustProxyFn } from '../common/client-address.js';
import { CORS_HEADERS } from '../common/cors.js';
import { AppConfig, type TrustProxy } from '../config/app-config.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { INGEST_PATH } from './events.controller.js';
import { deferContinue } from './body-reader.js';
import { IngestService } from './ingest.service.js';
import { hasGlobalInterceptor } from './nest-enhancers.js';

/** TRUST_PROXY compiled as Express compiles its 'trust proxy' setting, so that both lanes resolve `user_ip` alike. */
export function compileTrust(value: TrustProxy): TrustProxyFn {
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return proxyaddr.compile(value.split(',').map((part) => part.trim()));
}

/**
 * Why POST /api/events must stay a Nest route: anything configured that would run on a Nest route and that the
 * lane before Express would skip. Empty when nothing is.
 */
export function reasonsForNest(app: ApplicationConfig, config: AppConfig): string[] {
  const reasons: string[] = [];
  if (config.rateLimitPerMinute > 0) reasons.push(`RATE_LIMIT_PER_MINUTE=${config.rateLimitPerMinute}`);
  // The rate limit's own guard is named above; any other global guard is named here.
  const guards = [...app.getGlobalGuards(), ...app.getGlobalRequestGuards().map((wrapper) => wrapper.instance)];
  if (guards.some((guard) => !(guard instanceof RateLimitGuard))) reasons.push('a global guard');
  if (hasGlobalInterceptor(app)) reasons.push('a global interceptor');
  if (app.getGlobalPipes().length + app.getGlobalRequestPipes().length) reasons.push('a global pipe');
  if (app.getGlobalFilters().length + app.getGlobalRequestFilters().length) reasons.push('a global exception filter');
  if (app.getGlobalPreRequestHooks().length) reasons.push('a global pre-request hook');
  if (app.getGlobalPrefix()) reasons.push(`the global prefix ${app.getGlobalPrefix()}`);
  if (app.getVersioning()) reasons.push('versioning');
  return reasons;
}

interface RouteLayer {
  route?: { path?: string; methods?: Record<string, boolean> };
}

/**
 * Nest's own answer to an exception (BaseExceptionFilter: its JSON body, its log line for an unexpected error),
 * written on Node's response instead of Express's, with CORS.
 */
const nodeResponses = {
  isHeadersSent: (res: ServerResponse) => res.headersSent,
  reply(res: ServerResponse, body: unknown, status: number) {
    const json = JSON.stringify(body);
    res
      .writeHead(status, {
        ...CORS_HEADERS,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(json),
      })
      .end(json);
  },
  end: (res: ServerResponse) => res.end(),
} as unknown as HttpServer;

/**
 * Decides at start-up who serves POST /api/events, says it in one log line, and, when it can, serves it from the
 * HTTP server before Express, with the IngestService that the Nest route uses.
 *
 * Why: Express 5 costs this route most of its time (it re-prototypes every request and response, which keeps the
 * garbage collector busy: see docs/performance.md), and the route does nothing that needs it.
 * What the lane skips: Express and Nest's router, hence Nest's middleware, guards, interceptors, pipes and
 * exception filters. So it turns itself off whenever one of those would apply to the route: the rate limit (a
 * global guard), any global guard, interceptor, pipe or filter, a global prefix, versioning, a route moved away
 * from /api/events. Middleware never applies to this route on either lane: on the Nest lane it is moved to the
 * front of Express's routes (see moveRouteFirst). A guard, interceptor or pipe put on the route itself must turn
 * the lane off here too: that is the rule for changing this route (docs/architecture.md).
 */
@Injectable()
export class IngestFastLane implements OnApplicationBootstrap {
  private readonly logger = new Logger('IngestLane');
  private readonly path = `/${INGEST_PATH}`;
  private readonly errors = new BaseExceptionFilter(nodeResponses);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    private readonly config: AppConfig,
    private readonly ingestion: IngestService,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const reasons = reasonsForNest(this.appConfig, this.config);
    const express = adapter.getInstance() as RequestListener & { router?: { stack: RouteLayer[] } };
    const stack = express.router?.stack ?? [];
    const index = stack.findIndex((layer) => layer.route?.path === this.path && layer.route.methods?.post);
    if (index < 0) reasons.push(`the route is not at ${this.path}`);
    const server = adapter.getHttpServer() as Server;
    if (reasons.length === 0 && !server.listeners('request').includes(express)) {
      reasons.push("Express is not the HTTP server's request listener");
    }
    if (index > 0) moveRouteFirst(stack, index);
    this.answerContinueAfterLengthCheck(server);
    if (reasons.length) {
      this.logger.log(`POST ${this.path} is served by Nest's router, because of ${reasons.join(', ')}`);
      return;
    }
    this.serveBeforeExpress(server, express);
    this.logger.log(
      `POST ${this.path} is served before Express by IngestFastLane: no rate limit, no global guard, ` +
        'interceptor, pipe or filter, no global prefix or versioning',
    );
  }

  /** Whether `req` is POST /api/events, with or without a query string. */
  private isIngest(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    const path = this.path;
    return req.method === 'POST' && (url === path || (url.startsWith(path) && url[path.length] === '?'));
  }

  /**
   * On both lanes: `Expect: 100-continue` on POST /api/events is answered by readBody, after the guards and once
   * the declared length fits (see deferContinue); any other request gets its `100 Continue` at once, as without
   * this listener.
   */
  private answerContinueAfterLengthCheck(server: Server): void {
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (this.isIngest(req)) deferContinue(req, res);
      else res.writeContinue();
      server.emit('request', req, res);
    });
  }

  /** Puts the lane in Express's place among the server's `request` listeners, whatever others there are (an APM agent). */
  private serveBeforeExpress(server: Server, express: RequestListener): void {
    const trust = compileTrust(this.config.trustProxy);
    const lane: RequestListener = (req, res) => {
      if (!this.isIngest(req)) return express(req, res);
      this.ingestion.accept(req, res, clientAddress(req, trust)).catch((err: unknown) => this.fail(err, req, res));
    };
    const listeners = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    for (const listener of listeners) server.on('request', listener === express ? lane : listener);
  }

  private fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    // The client left while sending its body: nobody to answer, nothing to log.
    if (!(err instanceof HttpException) && (res.destroyed || res.socket?.destroyed)) return;
    const host = { getArgByIndex: (i: number) => [req, res][i] } as unknown as ArgumentsHost;
    this.errors.catch(err, host);
  }
}

/**
 * Moves the ingest route to the front of Express's routes and middleware. Express tries them in order for every
 * request, and this route takes nearly all of them, while nothing before it (the API docs, the HTTP logger of
 * other routes) applies to it. Nest's guards, interceptors, pipes and filters run inside the route: they still do.
 */
function moveRouteFirst(stack: RouteLayer[], index: number): void {
  const [layer] = stack.splice(index, 1);
  stack.unshift(layer);
}
