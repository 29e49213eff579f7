import type { Server } from 'node:http';
import { Logger, type INestApplication } from '@nestjs/common';
import { ShutdownState } from './common/shutdown-state.service.js';
import type { AppConfig } from './config/app-config.js';
import { SseHub } from './events/sse-hub.service.js';

/** How often connections left idle are closed while closing (see closeIdleConnections below). */
const IDLE_SWEEP_MS = 100;
/**
 * How long a connection accepted before the listener closed has to bring its request, once closing: after it, one
 * that carries none (silent, or a head that does not end) is closed, rather than holding the streams open.
 */
const REQUEST_GRACE_MS = 1000;

/**
 * The shutdown on SIGTERM (or SIGINT), handled here rather than by Nest's shutdown hooks: `app.close()` ends the
 * modules (event bus, backplane) before it closes the HTTP server, so a request answered meanwhile would get a 204
 * for an event that reaches nobody. Here the modules stay up until the server has closed:
 *
 * 1. drain, SHUTDOWN_DRAIN_MS: readiness answers 503, everything else is still served, every response with
 *    `Connection: close`; load balancers take the instance out meanwhile;
 * 2. close: the listener closes (a proxy's new connections are refused, so it retries them elsewhere), idle
 *    connections close, and after REQUEST_GRACE_MS those that carry no request; once every connection other than
 *    the streams' has closed (no request can arrive any more), streams end
 *    (clients reconnect elsewhere);
 * 3. once every connection is closed, the application closes (event bus, backplane) and the process exits 0;
 *    after SHUTDOWN_TIMEOUT_MS in step 2 or 3, it exits 1.
 *
 * A second signal during the drain skips the rest of it (an operator's second Ctrl-C); during the close, it
 * changes nothing: the close is bounded by SHUTDOWN_TIMEOUT_MS already.
 */
export function shutDownOnSignals(app: INestApplication, config: AppConfig): void {
  const logger = new Logger('Shutdown');
  const state = app.get(ShutdownState);
  const server = app.getHttpServer() as Server;
  let endDrain: (() => void) | undefined;

  const close = async (): Promise<void> => {
    state.close();
    logger.log(
      `Closing: no new connections; streams end once the requests in flight are answered ` +
        `(at most SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs} ms)`,
    );
    setTimeout(() => {
      logger.error(`Shutdown took longer than SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}: exiting anyway`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    // Right after the event loop's poll phase, which accepted the connections waiting then: those still queued in
    // the kernel when the listener closes are reset, their requests unread.
    await new Promise((resolve) => setImmediate(resolve));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Every response since the drain closes its connection; this catches one whose headers had left before.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    sweep.unref();
    const hub = app.get(SseHub);
    // Not just the requests in flight: a connection accepted before the listener closed may still bring one.
    const graceEnd = Date.now() + REQUEST_GRACE_MS;
    for (let streams = hub.streamSockets(); !state.onlyStreamsLeft(streams); streams = hub.streamSockets()) {
      if (Date.now() >= graceEnd) state.closeRequestless(streams);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    hub.endAll();
    await closed;
    clearInterval(sweep);
    await app.close();
    logger.log('Stopped');
    process.exit(0);
  };

  const drain = async (signal: NodeJS.Signals): Promise<void> => {
    state.drain();
    logger.log(
      `${signal}: draining for SHUTDOWN_DRAIN_MS=${config.shutdownDrainMs} ms (not ready, still serving, ` +
        `connections closed after each response; ${signal} again skips the rest), then closing`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.shutdownDrainMs);
      endDrain = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    endDrain = undefined;
    await close();
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (state.phase === 'serving') {
      drain(signal).catch((err: unknown) => {
        logger.error(err);
        process.exit(1);
      });
    } else if (endDrain) {
      logger.log(`${signal} again: skipping the rest of the drain`);
      endDrain();
    } else {
      logger.log(`${signal} again: already closing`);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
