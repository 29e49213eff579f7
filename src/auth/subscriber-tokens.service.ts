import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { TokenSet } from './safe-equal.js';

/** The secrets of SUBSCRIBER_TOKENS, hashed once; warns at start-up when the stream is open to anyone. */
@Injectable()
export class SubscriberTokens implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');
  readonly tokens: TokenSet;

  constructor(private readonly config: AppConfig) {
    this.tokens = new TokenSet(config.subscriberTokens);
  }

  /** False when SUBSCRIBER_TOKENS is unset: GET /events and /metrics are open. */
  get required(): boolean {
    return this.tokens.size > 0;
  }

  onApplicationBootstrap(): void {
    if (this.required || this.config.jwtSecret || this.config.jwtJwksUrl) return;
    this.logger.warn(
      "Neither SUBSCRIBER_TOKENS nor JWT_SECRET nor JWT_JWKS_URL is set: anyone who can reach GET /events reads every viewer's IP address and session",
    );
  }
}
