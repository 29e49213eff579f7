import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BackplaneModule } from '../backplane/backplane.module.js';
import { CommonModule } from '../common/common.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { EventBus } from './event-bus.service.js';
import { EventsController } from './events.controller.js';
import { IngestService } from './ingest.service.js';
import { SseHub } from './sse-hub.service.js';

@Module({
  imports: [AuthModule, BackplaneModule, CommonModule, MetricsModule],
  controllers: [EventsController],
  providers: [EventBus, SseHub, IngestService],
  exports: [EventBus, SseHub],
})
export class EventsModule {}
