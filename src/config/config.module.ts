import { Global, Module, type DynamicModule } from '@nestjs/common';
import { AppConfig } from './app-config.js';
import { Timings } from './timings.js';

/**
 * Makes the validated configuration (and the built-in Timings) injectable everywhere. The one global module, as
 * @nestjs/config's `isGlobal`: the configuration is read once, at start-up, by nearly every module, and a value
 * given to `forRoot` cannot be imported again by each of them.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig, timings: Partial<Timings> = {}): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: Timings, useValue: Object.assign(new Timings(), timings) },
      ],
      exports: [AppConfig, Timings],
    };
  }
}
