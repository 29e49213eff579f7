import { Module } from '@nestjs/common';
import { EventBus } from './event-bus.service.js';
import { EventsController } from './events.controller.js';
import { SseHub } from './sse-hub.service.js';

@Module({
  controllers: [EventsController],
  providers: [EventBus, SseHub],
  exports: [EventBus, SseHub],
})
export class EventsModule {}
