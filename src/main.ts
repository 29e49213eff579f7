import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { APP_OPTIONS, configureApp } from './app.setup.js';
import { ShutdownState } from './common/shutdown-state.service.js';
import { ConfigError, loadConfig, type AppConfig } from './config/app-config.js';

function readConfig(): AppConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const config = readConfig();
  const logger = new Logger('Main');
  const app = await NestFactory.create(AppModule.forRoot(config), APP_OPTIONS);
  await configureApp(app, config);
  await app.listen(config.port, config.host);
  // AppConfig.toJSON() leaves the secrets out.
  logger.log({ msg: `Listening on http://${config.host}:${config.port}`, config: config.toJSON() });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: not ready any more, ending streams, closing (at most ${config.shutdownTimeoutMs} ms)`);
    app.get(ShutdownState).begin();
    setTimeout(() => {
      logger.error(`Shutdown took longer than SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}: exiting anyway`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await app.close();
    logger.log('Stopped');
    process.exit(0);
  };
  process.once('SIGTERM', (s) => void stop(s));
  process.once('SIGINT', (s) => void stop(s));
}

void bootstrap();
