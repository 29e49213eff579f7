import { Module } from '@nestjs/common';
import { SubscriberTokenGuard } from './subscriber-token.guard.js';
import { SubscriberTokens } from './subscriber-tokens.service.js';

/** Who may read the stream and the metrics: modules whose routes wear `@UseGuards(SubscriberTokenGuard)` import it. */
@Module({ providers: [SubscriberTokens, SubscriberTokenGuard], exports: [SubscriberTokens, SubscriberTokenGuard] })
export class AuthModule {}
