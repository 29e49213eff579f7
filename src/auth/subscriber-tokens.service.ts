import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { TokenSet } from './safe-equal.js';

/** The secrets of SUBSCRIBER_TOKENS, hashed once; says at start-up whether the stream is open to anyone. */
@Injectable()
export class SubscriberTokens implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');
  readonly tokens: TokenSet;

  constructor(config: AppConfig) {
    this.tokens = new TokenSet(config.subscriberTokens);
  }

  /** False when SUBSCRIBER_TOKENS is unset: GET /events and /metrics are open. */
  get required(): boolean {
    return this.tokens.size > 0;
  }

  onApplicationBootstrap(): void {
    if (this.required) {
      this.logger.debug(`GET /events and /metrics need one of the ${this.tokens.size} SUBSCRIBER_TOKENS`);
    } else {
      this.logger.warn(
        "SUBSCRIBER_TOKENS is not set: anyone who can reach GET /events reads every viewer's IP address and session",
      );
    }
  }
}
