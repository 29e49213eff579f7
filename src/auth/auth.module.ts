import { Global, Module } from '@nestjs/common';
import { SubscriberTokenGuard } from './subscriber-token.guard.js';
import { SubscriberTokens } from './subscriber-tokens.service.js';

/** Who may read the stream and the metrics. Global, so that `@UseGuards(SubscriberTokenGuard)` works anywhere. */
@Global()
@Module({ providers: [SubscriberTokens, SubscriberTokenGuard], exports: [SubscriberTokens, SubscriberTokenGuard] })
export class AuthModule {}
