import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { Subject } from 'rxjs';
import { AppConfig, redactUrl, splitUrls } from '../config/app-config.js';
import type { Timings } from '../config/timings.js';
import type { BroadcastEvent } from '../common/broadcast-event.js';
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

/** Delay before reconnection attempt `attempt` (1, 2, ...): 100 ms doubling up to 2 s, plus jitter so that a fleet does not reconnect in step. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000) + Math.floor(Math.random() * 100);
}

type State = 'connecting' | 'up' | 'down' | 'closed';
type Connection = Redis | Cluster;

/** The cluster's seed nodes and the options every node connection takes (user, password, TLS) from REDIS_URL. */
export function clusterSeeds(value: string): {
  nodes: { host: string; port: number }[];
  redisOptions: Pick<RedisOptions, 'username' | 'password' | 'tls'>;
} {
  const urls = splitUrls(value).map((u) => new URL(u));
  const nodes = urls.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379) }));
  const first = urls[0];
  return {
    nodes,
    redisOptions: {
      ...(first.username && { username: decodeURIComponent(first.username) }),
      ...(first.password && { password: decodeURIComponent(first.password) }),
      ...(first.protocol === 'rediss:' && { tls: {} }),
    },
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
  private publisher: Connection;
  private subscriber: Connection;
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
    private readonly timings: Timings,
    metrics: MetricsService,
  ) {
    super();
    this.channel = config.redisChannel;
    this.cluster = config.redisCluster;
    this.exported = metrics.backplane;
  }

  async onModuleInit(): Promise<void> {
    const url = this.config.redisUrl as string;
    const common: RedisOptions = {
      connectTimeout: 5000,
      // Commands cut off by a lost connection fail at once instead of being sent again later (late or twice).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    };
    const name = `pillarbox-dispatcher-${this.codec.instanceId}`;
    if (this.cluster) {
      const { nodes, redisOptions } = clusterSeeds(url);
      const options = (connectionName: string, sharded: boolean): ClusterOptions => ({
        clusterRetryStrategy: reconnectDelay,
        // Nothing waits for Redis: an event that cannot be published now is dropped, not buffered.
        enableOfflineQueue: false,
        // A publish Redis refused with MOVED or ASK (it did not run it) follows the slot at once, 3 times at most.
        // One cut off by a lost connection (it may have run) or refused while the cluster is down is dropped,
        // not sent again: late or twice is worse than not shared.
        maxRedirections: 3,
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        retryDelayOnTryAgain: 0,
        slotsRefreshTimeout: 2000,
        shardedSubscribers: sharded,
        // Managed clusters with TLS announce host names their certificates name: connect to them as given.
        dnsLookup: (address, callback) => callback(null, address),
        redisOptions: { ...common, ...redisOptions, connectionName },
      });
      this.publisher = new Cluster(nodes, options(`${name}-pub`, false));
      this.subscriber = new Cluster(nodes, options(`${name}-sub`, true));
      this.subscriber.on('smessageBuffer', this.onMessage);
    } else {
      const single: RedisOptions = { ...common, retryStrategy: reconnectDelay, enableOfflineQueue: false };
      this.publisher = new Redis(url, { ...single, connectionName: `${name}-pub` });
      // Subscribed by hand on every `ready`, so that "up" means the SUBSCRIBE was confirmed.
      this.subscriber = new Redis(url, { ...single, connectionName: `${name}-sub`, autoResubscribe: false });
      this.subscriber.on('messageBuffer', this.onMessage);
    }

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
    this.logger.log(
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
      this.counts.dropped++;
      this.exported.errors.inc();
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
    this.exported.errors.inc(n);
  }

  private readonly onMessage = (_channel: Buffer, message: Buffer): void => {
    if (this.codec.isOwn(message)) {
      if (this.cluster) this.echoed();
      return;
    }
    const events = decodeMessage(message);
    if (events) {
      this.counts.received += events.length;
      this.exported.received.inc(events.length);
      for (const event of events) this.incoming.next(event);
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
    this.lastError = err.message;
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
