import { isUtf8 } from 'node:buffer';
import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Cluster, type Redis } from 'ioredis';
import { Subject } from 'rxjs';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { parseEventObject, stringField } from '../common/event-json.js';
import { likelyCause, redisConnection, type RedisConnection } from '../common/redis-connection.js';
import { AppConfig, redactUrl } from '../config/app-config.js';
import type { Timings } from '../config/timings.js';
import { MetricsService, type BackplaneMetrics } from '../metrics/metrics.service.js';
import { Backplane, type BackplaneStatus } from './backplane.js';
import { RedisMessageCodec, decodeMessage } from './redis-message.js';

/**
 * Events sent to Redis and not yet confirmed, above which new events are not shared: a Redis that stops
 * answering while its connection stays open must not make events pile up in this process.
 */
export const MAX_UNCONFIRMED_PUBLISHES = 10_000;

/** A turn's events are sent as one message, up to this many bytes of frames: past it, a message is sent at once. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

type State = 'connecting' | 'up' | 'down' | 'closed';

/** What a frame adds to the event of MAX_EVENT_BYTES it carries: `data: `, `user_ip` and the blank line. */
const FRAME_OVERHEAD_BYTES = 1024;
const FRAME_PREFIX_BYTES = 'data: '.length;

/**
 * A frame from another instance, checked as a POST's body is: at most MAX_EVENT_BYTES (and its framing), UTF-8, a
 * JSON object not nested too deep. Its filter fields are read from its JSON, not from the message's header, and it
 * is copied out of the message, so that a subscriber holding it does not hold the whole message.
 */
export function checkedEvent(frame: Buffer, maxFrameBytes: number): BroadcastEvent | undefined {
  if (frame.length > maxFrameBytes || !isUtf8(frame)) return undefined;
  const event = parseEventObject(frame.toString('utf8', FRAME_PREFIX_BYTES, frame.length - 2));
  if (!event) return undefined;
  return {
    frame: Buffer.from(frame),
    eventName: stringField(event.event_name),
    sessionId: stringField(event.session_id),
  };
}

/**
 * Redis Pub/Sub between the instances of one deployment. Redis stores nothing here: an event published while no
 * instance listens, or while Redis is away, is simply not shared. The events accepted in one event-loop turn go
 * out as one message (the per-command cost, in this process and in Redis, dominated when each event was one
 * PUBLISH), on one publisher connection, so in the order they were accepted; the subscriber connection brings
 * everyone's, and this instance's own are skipped (its subscribers got them directly).
 *
 * With REDIS_CLUSTER=true, both are ioredis cluster clients and the channel is a shard channel (SPUBLISH /
 * SSUBSCRIBE): its messages stay on the shard that owns its slot instead of crossing the whole cluster bus. The
 * cluster client follows the slot's owner; "up" then also means that this instance's messages come back to it
 * (a probe when it sent nothing lately), since a node lost behind a cluster client that stays "ready" shows no
 * other sign.
 */
export class RedisBackplane extends Backplane implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('RedisBackplane');
  private readonly codec = new RedisMessageCodec();
  private readonly incoming = new Subject<BroadcastEvent>();
  readonly incoming$ = this.incoming.asObservable();
  private readonly channel: string;
  private readonly cluster: boolean;
  private publisher: RedisConnection;
  private subscriber: RedisConnection;
  private subscribed = false;
  private state: State = 'connecting';
  private downSince = 0;
  private droppedAtDown = 0;
  private lastError = '';
  private unconfirmed = 0;
  private pending: BroadcastEvent[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Cluster mode: when one of this instance's messages last came back through the subscription. */
  private lastEchoAt = 0;
  private echoing = false;
  private readonly counts = { published: 0, received: 0, dropped: 0, ignored: 0, invalid: 0 };
  /** The largest frame taken from another instance: a POST of MAX_EVENT_BYTES, with its framing and user_ip. */
  private readonly maxFrameBytes: number;
  private lastWarnAt = 0;
  private pingTimer?: NodeJS.Timeout;
  private readonly pinging = new Set<Redis>();
  /** pillarbox_backplane_{published,received,errors}_total, beside the counts of GET /health. */
  private readonly exported: BackplaneMetrics;
  /** Ends the start-up wait once the first connections are up or have failed. */
  private started?: () => void;

  constructor(
    private readonly config: AppConfig,
    private readonly timings: Timings,
    metrics: MetricsService,
  ) {
    super();
    this.channel = config.redisChannel;
    this.cluster = config.redisCluster;
    this.exported = metrics.backplane;
    this.maxFrameBytes = config.maxEventBytes + FRAME_OVERHEAD_BYTES;
  }

  async onModuleInit(): Promise<void> {
    const url = this.config.redisUrl as string;
    const name = `pillarbox-dispatcher-${this.codec.instanceId}`;
    this.publisher = redisConnection(this.config, `${name}-pub`);
    // Subscribed by hand on every `ready`, so that "up" means the SUBSCRIBE was confirmed; in cluster mode, on the
    // shard's subscriber connections.
    this.subscriber = redisConnection(this.config, `${name}-sub`, { subscriber: true });
    this.subscriber.on(this.cluster ? 'smessageBuffer' : 'messageBuffer', this.onMessage);

    this.publisher.on('ready', () => this.update(false));
    this.publisher.on('close', () => this.update(true));
    this.publisher.on('error', (err: Error) => this.onError(err));
    this.subscriber.on('ready', () => this.subscribe());
    this.subscriber.on('close', () => {
      this.subscribed = false;
      this.update(true);
    });
    this.subscriber.on('error', (err: Error) => this.onError(err));
    this.pingTimer = setInterval(() => this.check(), this.timings.redisPingIntervalMs);
    this.pingTimer.unref();
    const mode = this.cluster ? 'cluster seed nodes' : '';
    this.logger.debug(
      `Connecting to ${mode}${mode && ' '}${redactUrl(url)}, channel ${this.channel}, as instance ${this.codec.instanceId}`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.started?.(), this.timings.redisStartupWaitMs);
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
    this.flush();
    this.incoming.complete();
    // Ends the sockets after what is already written (the last publishes) and stops reconnecting.
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  publish(event: BroadcastEvent): void {
    if (this.publisher.status !== 'ready' || this.unconfirmed + this.pending.length >= MAX_UNCONFIRMED_PUBLISHES) {
      this.dropped(1);
      return;
    }
    this.pending.push(event);
    this.pendingBytes += event.frame.length;
    if (this.pendingBytes >= MAX_MESSAGE_BYTES) return this.flush();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the I/O of this turn, so that every event accepted in it goes out in the same message.
    setImmediate(this.flushNow);
  }

  status(): BackplaneStatus {
    return {
      mode: 'redis',
      ...(this.cluster && { cluster: true }),
      up: this.isUp(),
      channel: this.channel,
      instance: this.codec.instanceId,
      publisher: this.publisher.status,
      subscriber: this.subscribed ? 'subscribed' : this.subscriber.status,
      ...this.counts,
    };
  }

  private readonly flushNow = (): void => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    const events = this.pending;
    if (!events.length) return;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.publisher.status !== 'ready') return this.dropped(events.length);
    const count = events.length;
    this.unconfirmed += count;
    // Only the count waits for Redis's answer, not the events.
    this.send(events).then(
      () => {
        this.unconfirmed -= count;
        this.counts.published += count;
        this.exported.published.inc(count);
      },
      () => {
        this.unconfirmed -= count;
        this.dropped(count);
      },
    );
  }

  private send(events: readonly BroadcastEvent[]): Promise<unknown> {
    const message = this.codec.encode(events);
    return this.cluster
      ? this.publisher.spublish(this.channel, message)
      : this.publisher.publish(this.channel, message);
  }

  private dropped(n: number): void {
    this.counts.dropped += n;
    this.exported.errors.inc({ reason: 'dropped' }, n);
  }

  private readonly onMessage = (_channel: Buffer, message: Buffer): void => {
    if (this.codec.isOwn(message)) {
      if (this.cluster) this.echoed();
      return;
    }
    const entries = decodeMessage(message);
    if (!entries) {
      this.counts.ignored++;
      this.exported.errors.inc({ reason: 'foreign' });
      this.warnAtMostEveryMinute(
        `Ignoring messages on channel ${this.channel} that are not this service's events (${this.counts.ignored} so far): ` +
          'another application or an incompatible version may use the same REDIS_CHANNEL',
      );
      return;
    }
    for (const { frame } of entries) {
      const event = checkedEvent(frame, this.maxFrameBytes);
      if (!event) {
        this.counts.invalid++;
        this.exported.errors.inc({ reason: 'invalid' });
        this.warnAtMostEveryMinute(
          `Dropping events from channel ${this.channel} that a POST would have been refused for (${this.counts.invalid} so far): ` +
            'larger than MAX_EVENT_BYTES, not UTF-8, not a JSON object or nested too deep',
        );
        continue;
      }
      this.counts.received++;
      this.exported.received.inc();
      this.incoming.next(event);
    }
  };

  private warnAtMostEveryMinute(message: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < 60_000) return;
    this.lastWarnAt = now;
    this.logger.warn(message);
  }

  private subscribe(): void {
    const subscribed =
      this.subscriber instanceof Cluster
        ? this.subscriber.ssubscribe(this.channel)
        : this.subscriber.subscribe(this.channel);
    subscribed.then(
      () => {
        this.subscribed = true;
        // In cluster mode, "up" waits for a message of this instance to come back.
        if (this.cluster) this.probe();
        this.update(false);
      },
      // The connection went away meanwhile (the next `ready` subscribes again) or Redis refused (ACL).
      (err: Error) => {
        this.onError(err);
        this.update(true);
      },
    );
  }

  /** Every redisPingIntervalMs: a PING on each connection, or in cluster mode a probe round the channel. */
  private check(): void {
    if (!this.cluster) {
      this.ping(this.publisher as Redis);
      this.ping(this.subscriber as Redis);
      return;
    }
    if (this.echoing && Date.now() - this.lastEchoAt > 2 * this.timings.redisPingIntervalMs) {
      this.echoing = false;
      this.lastError = `no message of this instance came back within ${(2 * this.timings.redisPingIntervalMs) / 1000} s`;
      this.update(true);
    }
    if (Date.now() - this.lastEchoAt >= this.timings.redisPingIntervalMs) this.probe();
  }

  /** A message of no event: it comes back to this instance alone that way (the others read it as nothing). */
  private probe(): void {
    if (this.publisher.status === 'ready') this.send([]).catch((err: Error) => this.onError(err));
  }

  private echoed(): void {
    this.lastEchoAt = Date.now();
    if (this.echoing) return;
    this.echoing = true;
    this.update(false);
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
      this.lastError = `no answer to PING within ${this.timings.redisPingIntervalMs} ms`;
      connection.disconnect(true); // `close` then reports the outage, and ioredis reconnects
    }, this.timings.redisPingIntervalMs);
    connection.ping().then(settle, settle);
  }

  private onError(err: Error): void {
    // Every failed reconnection attempt ends here: kept for the next state change's log line, not logged itself.
    this.lastError = likelyCause(err.message, this.config);
  }

  private isUp(): boolean {
    return this.publisher.status === 'ready' && this.subscribed && (!this.cluster || this.echoing);
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
      this.exported.up.set(1);
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
    this.exported.up.set(0);
    this.exported.errors.inc({ reason: 'connection' });
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
