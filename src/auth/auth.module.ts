import { Module } from '@nestjs/common';
import { JwtVerifier } from './jwt-verifier.service.js';
import { SubscriberTokenGuard } from './subscriber-token.guard.js';
import { SubscriberTokens } from './subscriber-tokens.service.js';

/** Who may read the stream and the metrics: modules whose routes wear `@UseGuards(SubscriberTokenGuard)` import it. */
@Module({
  providers: [SubscriberTokens, JwtVerifier, SubscriberTokenGuard],
  exports: [SubscriberTokens, JwtVerifier, SubscriberTokenGuard],
})
export class AuthModule {}
