import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { answerClientErrorsInJson } from './common/client-error.js';
import { ShutdownState } from './common/shutdown-state.service.js';
import type { AppConfig } from './config/app-config.js';
import { answerContinueAfterLengthCheck } from './events/body-reader.js';
import { INGEST_PATH } from './events/events.controller.js';
import { AppLogger } from './logging/app-logger.js';
import { setupDocs } from './openapi/openapi.setup.js';

/** Nest application options the service needs; shared by app.bootstrap.ts and the e2e tests. */
export const APP_OPTIONS = {
  // Bodies are read raw by the ingest handler: Nest's JSON parser ignores text/plain beacons.
  bodyParser: false,
  // Start-up lines wait for the pino logger, which configureApp installs once the application is built.
  bufferLogs: true,
} as const;

/**
 * Express and HTTP server settings that do not belong to any one module, and the API docs; then initializes the
 * application. What remains is `listen()`.
 */
export async function configureApp(app: INestApplication, config: AppConfig): Promise<void> {
  app.useLogger(new AppLogger(app.get(Logger)));
  const express = app as NestExpressApplication;
  express.set('trust proxy', config.trustProxy);
  express.disable('x-powered-by');
  express.disable('etag');
  const server = app.getHttpServer() as Server;
  // Longer than the 60 s idle timeout of a cloud load balancer, so the balancer closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  answerClientErrorsInJson(server);
  answerContinueAfterLengthCheck(server, `/${INGEST_PATH}`);
  setupDocs(app);
  await app.init();
  app.get(ShutdownState).watch(server);
}
