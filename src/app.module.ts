import { Module, type DynamicModule } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import type { Timings } from './config/timings.js';
import { ConsoleModule } from './console/console.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';

export interface AppModuleOptions {
  /** Where logs are written instead of stdout (the e2e tests capture them). */
  logDestination?: DestinationStream;
  /** Shorter waits than the built-in ones (the tests). */
  timings?: Partial<Timings>;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, options.timings),
        LoggingModule.forRoot(config, options.logDestination),
        MetricsModule,
        RateLimitModule.forRoot(config),
        EventsModule,
        HealthModule,
        ConsoleModule,
      ],
    };
  }
}
