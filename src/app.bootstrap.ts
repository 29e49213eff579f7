import 'reflect-metadata';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { APP_OPTIONS, configureApp } from './app.setup.js';
import { shutDownOnSignals } from './app.shutdown.js';
import { readBuildInfo } from './common/build-info.js';
import { cgroupMemoryLimit } from './common/cgroup-memory.js';
import { ConfigError, enabledFeatures, loadConfig, misspeltVariables, type AppConfig } from './config/app-config.js';

function readConfig(): AppConfig {
  try {
    // The container's memory limit sizes MAX_SUBSCRIBERS's default and the RSS check of GET /health.
    return loadConfig(process.env, { memoryLimitBytes: cgroupMemoryLimit() });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

/** Why listening failed, in one line naming the variable to change. */
function listenError(err: NodeJS.ErrnoException, config: AppConfig): string {
  const host = `HOST=${JSON.stringify(config.host ?? '')}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `PORT=${config.port}: the port is already in use${config.host ? ` on ${host}` : ''}`;
    case 'EACCES':
      return `PORT=${config.port}: not allowed to listen on this port (below 1024 without the privilege?)`;
    case 'EADDRNOTAVAIL':
      return `${host}: not an address of this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return `${host}: the host name does not resolve`;
    case 'EAFNOSUPPORT':
      return `${host}: this machine has no such address family (IPv6?)`;
    default:
      return `${host} PORT=${config.port}: cannot listen (${err.code ?? err.message})`;
  }
}

/**
 * Opens the listening socket before anything else starts (no Redis connection, no start-up lines), so that a
 * HOST or PORT that cannot be used ends the process in one line. The HTTP server takes this socket over.
 * Connections accepted meanwhile (a proxy's, during a rolling restart) are kept unread in `early`: they are
 * handed to the HTTP server once it listens, instead of hanging unanswered.
 */
async function bind(config: AppConfig, early: Socket[]): Promise<Server> {
  const listener = createServer({ pauseOnConnect: true });
  listener.on('connection', (socket: Socket) => early.push(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port: config.port, host: config.host }, resolve);
    });
  } catch (err) {
    process.stderr.write(`Cannot listen: ${listenError(err as NodeJS.ErrnoException, config)}\n`);
    process.exit(1);
  }
  return listener;
}

/** `http://host:port` of a bound address, IPv6 in brackets. */
function urlOf({ address, family, port }: AddressInfo): string {
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
}

/** Starts the service (main.ts calls it once this module and those it imports are loaded). */
export async function bootstrap(): Promise<void> {
  const config = readConfig();
  const early: Socket[] = [];
  const listener = await bind(config, early);
  const logger = new Logger('Main');
  const app = await NestFactory.create(AppModule.forRoot(config), APP_OPTIONS);
  await configureApp(app, config);
  // Node's server.listen(handle): the HTTP server accepts on the socket bound above (Nest types only a port).
  await app.listen(listener as unknown as number);
  const server = app.getHttpServer() as Server;
  for (const socket of early.splice(0)) {
    server.emit('connection', socket);
    socket.resume();
  }
  const address = server.address() as AddressInfo;
  // AppConfig.toJSON() leaves the secrets out.
  // `msg` stays `Listening on <url>` (what log searches and the specs read); the build has its own field.
  logger.log({ msg: `Listening on ${urlOf(address)}`, build: readBuildInfo(), config: config.toJSON() });
  logger.log(`Enabled: ${enabledFeatures(config)}`);
  for (const warning of misspeltVariables(process.env)) logger.warn(warning);
  if (config.trustProxy === true) {
    logger.warn(
      'TRUST_PROXY=true: every hop of X-Forwarded-For is believed, so any client can set its own user_ip; ' +
        "list the load balancer's addresses or networks instead (e.g. TRUST_PROXY=10.0.0.0/8)",
    );
  }

  shutDownOnSignals(app, config);
}
