import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { Subject } from 'rxjs';
import { AppConfig, redactUrl } from '../config/app-config.js';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { MetricsService, type BackplaneMetrics } from '../metrics/metrics.service.js';
import { Backplane, type BackplaneStatus } from './backplane.js';
import { RedisMessageCodec, decodeMessage } from './redis-message.js';

/**
 * Publishes sent to Redis and not yet confirmed, above which new events are not shared: a Redis that stops
 * answering while its connection stays open must not make events pile up in this process.
 */
export const MAX_UNCONFIRMED_PUBLISHES = 10_000;

/**
 * Each connection is checked with a PING this often, and dropped and made again when the answer takes longer: a
 * Redis that hangs, or a connection that died without a word (TCP keep-alive would take minutes), is then noticed.
 */
export const PING_INTERVAL_MS = 5_000;

/** Delay before reconnection attempt `attempt` (1, 2, ...): 100 ms doubling up to 2 s, plus jitter so that a fleet does not reconnect in step. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000) + Math.floor(Math.random() * 100);
}

/**
 * Longest wait at start-up for the first connections, so that the instance starts listening with its backplane up:
 * an event accepted before would reach this instance's subscribers only. A Redis that refuses or fails does not
 * hold the start any longer (the instance starts without it and joins when it comes).
 */
export const STARTUP_WAIT_MS = 3_000;

type State = 'connecting' | 'up' | 'down' | 'closed';

/**
 * Redis Pub/Sub between the instances of one deployment. Redis stores nothing here: an event published while no
 * instance listens, or while Redis is away, is simply not shared. One publisher connection keeps this instance's
 * events in the order it accepted them; the subscriber connection brings everyone's, and this instance's own are
 * skipped (its subscribers got them directly).
 */
export class RedisBackplane extends Backplane implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RedisBackplane');
  private readonly codec = new RedisMessageCodec();
  private readonly incoming = new Subject<BroadcastEvent>();
  readonly incoming$ = this.incoming.asObservable();
  private readonly channel: string;
  private publisher: Redis;
  private subscriber: Redis;
  private subscribed = false;
  private state: State = 'connecting';
  private downSince = 0;
  private droppedAtDown = 0;
  private lastError = '';
  private unconfirmed = 0;
  private readonly counts = { published: 0, received: 0, dropped: 0, ignored: 0 };
  private lastIgnoredLogAt = 0;
  private pingTimer?: NodeJS.Timeout;
  private readonly pinging = new Set<Redis>();
  /** pillarbox_backplane_{published,received,errors}_total, beside the counts of GET /health. */
  private readonly exported: BackplaneMetrics;
  /** Ends the start-up wait once the first connections are up or have failed. */
  private started?: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.channel = config.redisChannel;
    this.exported = metrics.backplane;
  }

  async onModuleInit(): Promise<void> {
    const url = this.config.redisUrl as string;
    const common: RedisOptions = {
      retryStrategy: reconnectDelay,
      connectTimeout: 5000,
      // Commands cut off by a lost connection fail at once instead of being sent again later (late or twice).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Nothing waits for Redis: an event that cannot be published now is dropped, not buffered.
      enableOfflineQueue: false,
    };
    const name = `pillarbox-dispatcher-${this.codec.instanceId}`;
    this.publisher = new Redis(url, { ...common, connectionName: `${name}-pub` });
    // Subscribed by hand on every `ready`, so that "up" means the SUBSCRIBE was confirmed.
    this.subscriber = new Redis(url, { ...common, connectionName: `${name}-sub`, autoResubscribe: false });

    this.publisher.on('ready', () => this.update(false));
    this.publisher.on('close', () => this.update(true));
    this.publisher.on('error', (err: Error) => this.onError(err));
    this.subscriber.on('ready', () => this.subscribe());
    this.subscriber.on('close', () => {
      this.subscribed = false;
      this.update(true);
    });
    this.subscriber.on('error', (err: Error) => this.onError(err));
    this.subscriber.on('messageBuffer', this.onMessage);
    this.pingTimer = setInterval(() => {
      this.ping(this.publisher);
      this.ping(this.subscriber);
    }, PING_INTERVAL_MS);
    this.pingTimer.unref();
    this.logger.log(`Connecting to ${redactUrl(url)}, channel ${this.channel}, as instance ${this.codec.instanceId}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.started?.(), STARTUP_WAIT_MS);
      this.started = () => {
        this.started = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  onModuleDestroy(): void {
    this.started?.();
    this.state = 'closed';
    clearInterval(this.pingTimer);
    this.incoming.complete();
    // Ends the sockets after what is already written (the last publishes) and stops reconnecting.
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  publish(event: BroadcastEvent): void {
    if (this.publisher.status !== 'ready' || this.unconfirmed >= MAX_UNCONFIRMED_PUBLISHES) {
      this.counts.dropped++;
      this.exported.errors.inc();
      return;
    }
    this.unconfirmed++;
    this.publisher.publish(this.channel, this.codec.encode(event)).then(this.onPublished, this.onPublishFailed);
  }

  status(): BackplaneStatus {
    return {
      mode: 'redis',
      up: this.isUp(),
      channel: this.channel,
      instance: this.codec.instanceId,
      publisher: this.publisher.status,
      subscriber: this.subscribed ? 'subscribed' : this.subscriber.status,
      ...this.counts,
    };
  }

  private readonly onPublished = (): void => {
    this.unconfirmed--;
    this.counts.published++;
    this.exported.published.inc();
  };

  private readonly onPublishFailed = (): void => {
    this.unconfirmed--;
    this.counts.dropped++;
    this.exported.errors.inc();
  };

  private readonly onMessage = (_channel: Buffer, message: Buffer): void => {
    if (this.codec.isOwn(message)) return;
    const event = decodeMessage(message);
    if (event) {
      this.counts.received++;
      this.exported.received.inc();
      this.incoming.next(event);
      return;
    }
    this.counts.ignored++;
    this.exported.errors.inc();
    const now = Date.now();
    if (now - this.lastIgnoredLogAt >= 60_000) {
      this.lastIgnoredLogAt = now;
      this.logger.warn(
        `Ignoring messages on channel ${this.channel} that are not this service's events (${this.counts.ignored} so far): ` +
          'another application or an incompatible version may use the same REDIS_CHANNEL',
      );
    }
  };

  private subscribe(): void {
    this.subscriber.subscribe(this.channel).then(
      () => {
        this.subscribed = true;
        this.update(false);
      },
      // The connection went away meanwhile (the next `ready` subscribes again) or Redis refused (ACL).
      (err: Error) => {
        this.onError(err);
        this.update(true);
      },
    );
  }

  private ping(connection: Redis): void {
    if (connection.status !== 'ready' || this.pinging.has(connection)) return;
    this.pinging.add(connection);
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.pinging.delete(connection);
    };
    const timer = setTimeout(() => {
      settle();
      this.lastError = `no answer to PING within ${PING_INTERVAL_MS} ms`;
      connection.disconnect(true); // `close` then reports the outage, and ioredis reconnects
    }, PING_INTERVAL_MS);
    connection.ping().then(settle, settle);
  }

  private onError(err: Error): void {
    // Every failed reconnection attempt ends here: kept for the next state change's log line, not logged itself.
    this.lastError = err.message;
  }

  private isUp(): boolean {
    return this.publisher.status === 'ready' && this.subscribed;
  }

  /** After a change of a connection; the first "up" or failure ends the start-up wait. */
  private update(failure: boolean): void {
    this.track(failure);
    if (this.state !== 'connecting') this.started?.();
  }

  /** Logs the changes between up and down, once each, not every failed attempt or dropped event. */
  private track(failure: boolean): void {
    if (this.state === 'closed') return;
    if (this.isUp()) {
      if (this.state === 'up') return;
      const wasDown = this.state === 'down';
      this.state = 'up';
      this.lastError = '';
      if (!wasDown) {
        this.logger.log(`Redis backplane up: events are shared with the other instances on channel ${this.channel}`);
        return;
      }
      const seconds = ((Date.now() - this.downSince) / 1000).toFixed(1);
      const dropped = this.counts.dropped - this.droppedAtDown;
      this.logger.log(
        `Redis backplane up again after ${seconds} s: events are shared again; ` +
          `${dropped} accepted meanwhile reached this instance's subscribers only`,
      );
      return;
    }
    // Still setting up the first connections is not an outage; a failure or the loss of "up" is.
    if (this.state === 'down' || (this.state === 'connecting' && !failure)) return;
    const lost = this.state === 'up';
    this.state = 'down';
    this.exported.errors.inc();
    this.downSince = Date.now();
    this.droppedAtDown = this.counts.dropped;
    const reason = lost
      ? `connection lost${this.lastError ? `: ${this.lastError}` : ''}`
      : `unreachable: ${this.lastError || 'connection closed'}`;
    this.logger.warn(
      `Redis backplane down (${reason}): ` +
        "events reach this instance's subscribers only and are not kept for later; reconnecting in the background",
    );
  }
}
