/**
 * Waits built into the service, not meant for operators to set: one provider, so that tests can shorten them
 * (`AppModule.forRoot(config, { timings })`) instead of waiting them out.
 */
export class Timings {
  /** How long a subscriber's unsent bytes may stay above SSE_MAX_BUFFER_BYTES without shrinking. */
  slowReaderWindowMs = 10_000;
  /**
   * How often each Redis connection is checked with a PING, dropped and made again when the answer takes longer: a
   * Redis that hangs, or a connection that died without a word (TCP keep-alive would take minutes), is noticed. In
   * cluster mode a probe message goes round the channel instead.
   */
  redisPingIntervalMs = 5_000;
  /**
   * Longest wait at start-up for the first Redis connections, so that the instance starts listening with its
   * backplane up; a Redis that refuses or fails does not hold the start any longer (the instance joins later).
   */
  redisStartupWaitMs = 3_000;
  /** The longest wait for the JWKS of subscriber tokens (JWT_JWKS_URL) before a new token gets 503. */
  jwksTimeoutMs = 5_000;
  /** After a fetch of the JWKS, how long a token with an unknown key waits before it may cause another. */
  jwksCooldownMs = 30_000;
}
