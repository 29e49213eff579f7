import { Module, type DynamicModule } from '@nestjs/common';
import { BackplaneModule } from './backplane/backplane.module.js';
import { CommonModule } from './common/common.module.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        CommonModule,
        BackplaneModule.forRoot(config),
        EventsModule,
        HealthModule,
      ],
    };
  }
}
