import type { AddressInfo } from 'node:net';
import type { INestApplication, LoggerService, ModuleMetadata, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { APP_OPTIONS, configureApp } from '../../src/app.setup.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import type { Timings } from '../../src/config/timings.js';
import { logs } from './log-capture.js';
import { SseClient } from './sse-client.js';

export interface RunningApp {
  app: INestApplication;
  config: AppConfig;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Boots the real application on 127.0.0.1 and a free port, configured from `env` as in production.
 * Its logs go to `logs` (./log-capture.ts), not to the console, unless a `logger` is given: that one then
 * receives Nest's log calls (Nest's logger is process-wide: the last app started sets it). `providers` join the
 * application's (an APP_GUARD, say), `imports` its modules (one with middleware, say); `beforeInit` runs before the application initializes (setGlobalPrefix);
 * `memoryLimitBytes` plays the container's memory limit (app.bootstrap.ts reads the cgroup's); `timings` shortens the
 * service's built-in waits.
 */
export async function startApp(
  env: Record<string, string> = {},
  options: {
    logger?: LoggerService;
    providers?: Provider[];
    imports?: ModuleMetadata['imports'];
    beforeInit?: (app: INestApplication) => void;
    memoryLimitBytes?: number;
    timings?: Partial<Timings>;
  } = {},
): Promise<RunningApp> {
  // The heap /health checks is jest's, shared by every test file of a run: its limit is raised unless a test sets it.
  const config = loadConfig(
    { HEALTH_MAX_HEAP_MB: '65536', ...env, PORT: '0', HOST: '127.0.0.1' },
    { memoryLimitBytes: options.memoryLimitBytes },
  );
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot(config, { logDestination: logs, timings: options.timings }),
      ...(options.imports ?? []),
    ],
    providers: options.providers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication(APP_OPTIONS);
  options.beforeInit?.(app);
  await configureApp(app, config);
  if (options.logger) app.useLogger(options.logger);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, config, port, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * For a describe block: an application started from `env` and a reader of its stream (opened with `headers`),
 * both ready before the block's tests and closed after them. Read them from the returned object inside the tests.
 */
export function appWithReader(
  env: Record<string, string> = {},
  headers: Record<string, string> = {},
): { running: RunningApp; reader: SseClient } {
  const context = {} as { running: RunningApp; reader: SseClient };
  beforeAll(async () => {
    context.running = await startApp(env);
    context.reader = await SseClient.open(`${context.running.url}/events`, headers);
  });
  afterAll(async () => {
    context.reader?.close();
    await context.running?.close();
  });
  return context;
}
