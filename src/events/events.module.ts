import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BackplaneModule } from '../backplane/backplane.module.js';
import { CommonModule } from '../common/common.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { EventBus } from './event-bus.service.js';
import { EventsController } from './events.controller.js';
import { IngestFastLane } from './ingest-fast-lane.service.js';
import { IngestService } from './ingest.service.js';
import { SseHub } from './sse-hub.service.js';
import { StreamHandover } from './stream-handover.service.js';

@Module({
  imports: [AuthModule, BackplaneModule, CommonModule, MetricsModule],
  controllers: [EventsController],
  providers: [EventBus, SseHub, IngestService, IngestFastLane, StreamHandover],
  exports: [EventBus, SseHub],
})
export class EventsModule {}
