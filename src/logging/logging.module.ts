import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Module, RequestMethod, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { pino, type DestinationStream } from 'pino';
import type { Options } from 'pino-http';
import { clientAddressResolver, shownAddress } from '../common/client-address.js';
import type { AppConfig } from '../config/app-config.js';

/** The path without its query string, which may carry `access_token` or a viewer's session: never logged. */
export function redactQuery(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?[REDACTED]`;
}

type Req = IncomingMessage & { originalUrl?: string; id?: unknown };

function path(req: Req): string {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** pino-http settings: no headers (Authorization), no query string, no bodies; an access line per request. */
export function httpLoggerOptions(config: AppConfig): Options<Req, ServerResponse> {
  const clientAddress = clientAddressResolver(config.trustProxy);
  return {
    level: config.logLevel,
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      // Replaces pino's request serializer, which writes every header and the query.
      req: (req: { id?: unknown; method?: string; url?: string; raw?: Req }) => ({
        id: req.id,
        method: req.method,
        url: redactQuery(req.url),
        // Only the network with ANONYMIZE_USER_IP.
        ip: req.raw && shownAddress(clientAddress(req.raw), config.anonymizeUserIp),
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (req, res, err) => {
      if (err || res.statusCode >= 500) return 'error';
      if (res.statusCode >= 400) return 'warn';
      // An accepted stream: the SSE hub logs its connect and disconnect lines, with the reason and duration.
      if (path(req) === '/events') return 'silent';
      return 'info';
    },
  };
}

/**
 * pino-pretty, loaded only for LOG_FORMAT=pretty: JSON logs (production) do not carry it and its dependencies. It is
 * CommonJS, so require() loads it synchronously, here, while the module is configured.
 */
function loadPinoPretty(): typeof import('pino-pretty') {
  return createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
}

/** Where logs go when no destination is given: stdout, as JSON lines or, with LOG_FORMAT=pretty, for people. */
function defaultDestination(config: AppConfig): DestinationStream {
  return config.logFormat === 'pretty'
    ? loadPinoPretty()({ sync: true, colorize: process.stdout.isTTY, singleLine: true })
    : // Asynchronous: a slow log collector must not block the event loop; pino flushes it on exit.
      pino.destination({ dest: 1, sync: false });
}

/**
 * Structured logs with nestjs-pino: every Nest log line goes through pino. The HTTP logger runs on the stream,
 * metrics and console routes only: POST /api/events and the health probes bypass it altogether (no per-event
 * cost, no access line).
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig, destination?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: [httpLoggerOptions(config), destination ?? defaultDestination(config)],
          // Only where an access line is wanted. Listing the routes, rather than excluding POST /api/events
          // and the probes from a catch-all, keeps the middleware (and its per-request route matching) off the
          // ingest path entirely.
          forRoutes: [
            { path: 'events', method: RequestMethod.ALL },
            { path: 'metrics', method: RequestMethod.ALL },
            { path: '/', method: RequestMethod.GET },
            { path: 'console', method: RequestMethod.GET },
            { path: 'console/{*path}', method: RequestMethod.GET },
          ],
        }),
      ],
    };
  }
}
