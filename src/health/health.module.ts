import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { BackplaneModule } from '../backplane/backplane.module.js';
import { CommonModule } from '../common/common.module.js';
import { EventsModule } from '../events/events.module.js';
import { BackplaneHealthIndicator } from './backplane.health.js';
import { HealthController } from './health.controller.js';
import { RssHealthIndicator } from './rss.health.js';
import { SubscribersHealthIndicator } from './subscribers.health.js';

@Module({
  // Terminus logs every failed check; a draining instance answering 503 is expected, not an error.
  imports: [TerminusModule.forRoot({ logger: false }), BackplaneModule, CommonModule, EventsModule],
  controllers: [HealthController],
  providers: [SubscribersHealthIndicator, BackplaneHealthIndicator, RssHealthIndicator],
})
export class HealthModule {}
