import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/app-config.js';
import { setupDocs } from './docs/docs.setup.js';
import { serveIngestWithoutExpress } from './events/ingest-fast-lane.js';

/** Nest application options the service needs; shared by main.ts and the e2e tests. */
export const APP_OPTIONS = {
  // Bodies are read raw by the ingest handler: Nest's JSON parser ignores text/plain beacons.
  bodyParser: false,
  // Start-up lines wait for the pino logger, which main.ts installs once the application is built.
  bufferLogs: true,
} as const;

/**
 * Express and HTTP server settings that do not belong to any one module, and the API docs; then initializes the
 * application (Nest registers its routes) and gives the ingest route its fast paths. What remains is `listen()`.
 */
export async function configureApp(app: INestApplication, config: AppConfig): Promise<void> {
  app.useLogger(app.get(Logger));
  const express = app as NestExpressApplication;
  express.set('trust proxy', config.trustProxy);
  express.disable('x-powered-by');
  express.disable('etag');
  const server = app.getHttpServer() as Server;
  // Longer than the 60 s idle timeout of a cloud load balancer, so the balancer closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  setupDocs(app);
  await app.init();
  serveIngestFirst(app);
  serveIngestWithoutExpress(app, config);
}

interface RouteLayer {
  route?: { path?: string; methods?: Record<string, boolean> };
}

/**
 * Moves `POST /api/events` to the front of Express's list of routes and middleware, once Nest has registered them
 * (after `app.init()`). Express tries them in order for every request, and this one route takes nearly all of
 * them, while nothing before it (the API docs, the HTTP logger of other routes, routes of other modules) applies
 * to it. Nest's guards, which run inside the route, still do. (Without a rate limit, the route is even served
 * before Express: see serveIngestWithoutExpress.)
 */
export function serveIngestFirst(app: INestApplication): void {
  const router = (app as NestExpressApplication).getHttpAdapter().getInstance().router as { stack: RouteLayer[] };
  const index = router.stack.findIndex((l) => l.route?.path === '/api/events' && l.route.methods?.post);
  if (index <= 0) return;
  const [layer] = router.stack.splice(index, 1);
  router.stack.unshift(layer);
}
