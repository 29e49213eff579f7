import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { Backplane } from './backplane.js';
import { LocalBackplane } from './local-backplane.js';
import { RedisBackplane } from './redis-backplane.js';

/** Provides `Backplane`: Redis pub/sub when REDIS_URL is set, otherwise the in-process one. */
@Global()
@Module({})
export class BackplaneModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: BackplaneModule,
      providers: [{ provide: Backplane, useClass: config.redisUrl ? RedisBackplane : LocalBackplane }],
      exports: [Backplane],
    };
  }
}
