import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfoMetric } from '../common/build-info.js';
import { DISCONNECT_REASONS, REJECT_REASONS, type DisconnectReason, type RejectReason } from '../common/reasons.js';
import { AppConfig } from '../config/app-config.js';

/** Metrics a backplane updates; registered only when one runs (with REDIS_URL). */
export interface BackplaneMetrics {
  /** 1 while the backplane is up, 0 while it is not. */
  readonly up: Gauge;
  /** Events this instance sent to the other instances. */
  readonly published: Counter;
  /** Events received from the other instances. */
  readonly received: Counter;
  /**
   * Backplane failures by reason: `dropped` (an event not shared: Redis down, not answering or failing the publish),
   * `connection` (a connection lost), `foreign` (a message on the channel that is not this service's),
   * `invalid` (an event from another instance refused by the checks a POST passes).
   */
  readonly errors: Counter<'reason'>;
}

/** What the stream side reports when Prometheus scrapes. */
export interface StreamReadings {
  subscribers(): number;
  unsentBytes(): number;
}

const PREFIX = 'pillarbox_';
export const BACKPLANE_ERROR_REASONS = ['dropped', 'connection', 'foreign', 'invalid'] as const;
export type BackplaneErrorReason = (typeof BACKPLANE_ERROR_REASONS)[number];

/**
 * The Prometheus registry of this instance and the counters the other modules update. Its own registry, not
 * prom-client's global one, so that several applications in one process (the e2e tests) do not collide.
 * Updates are one `inc()` or `observe()` per event or per flush, never per subscriber.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** Events accepted on POST /api/events and published to the stream. */
  readonly eventsReceived = new Counter({
    name: `${PREFIX}events_received_total`,
    help: 'Events accepted on POST /api/events and published to the stream',
    registers: [this.registry],
  });

  private readonly eventsRejected = new Counter({
    name: `${PREFIX}events_rejected_total`,
    help: 'Events refused on POST /api/events, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  /** Event frames written to subscribers: one per event per subscriber. */
  readonly framesDelivered = new Counter({
    name: `${PREFIX}frames_delivered_total`,
    help: 'Event frames written to subscribers of this instance (one per event per subscriber)',
    registers: [this.registry],
  });

  /** Time from the start of the POST handler to the event's publication, accepted events only, in seconds. */
  readonly ingestDuration = new Histogram({
    name: `${PREFIX}ingest_duration_seconds`,
    help: 'Time to read, check and publish an accepted event, in seconds',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Rate-limit checks that could not reach the shared count in Redis, and counted this instance's alone. */
  readonly rateLimitFallbacks = new Counter({
    name: `${PREFIX}rate_limit_fallbacks_total`,
    help: 'Rate-limit checks that could not reach the shared count in Redis and counted on this instance alone',
    registers: [this.registry],
  });

  private readonly subscribersDisconnected = new Counter({
    name: `${PREFIX}subscribers_disconnected_total`,
    help: 'Streams on GET /events that ended or were refused, by reason (client, slow, shutdown, auth)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  private streams: StreamReadings = { subscribers: () => 0, unsentBytes: () => 0 };
  private backplaneMetrics?: BackplaneMetrics;

  constructor(config: AppConfig) {
    // Read when scraped: nothing to update on connect, disconnect or write.
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge('subscribers', 'Subscribers connected to GET /events on this instance', () => this.streams.subscribers());
    gauge('subscribers_max', 'The subscriber limit in force (MAX_SUBSCRIBERS)', () => config.maxSubscribers);
    gauge(
      'stream_unsent_bytes',
      "Bytes written to subscribers' sockets and not yet sent, each buffer counted once",
      () => this.streams.unsentBytes(),
    );
    gauge(
      'stream_unsent_budget_bytes',
      'The budget of unsent bytes past which the largest backlogs are cut off (SSE_BUFFER_BUDGET_BYTES)',
      () => config.sseBufferBudgetBytes,
    );
    if (config.memoryLimitBytes !== undefined) {
      const limit = config.memoryLimitBytes;
      gauge('memory_limit_bytes', "The container's memory limit (its cgroup's), read at start", () => limit);
    }
    for (const reason of REJECT_REASONS) this.eventsRejected.inc({ reason }, 0);
    for (const reason of DISCONNECT_REASONS) this.subscribersDisconnected.inc({ reason }, 0);
    registerBuildInfoMetric(this.registry);
    collectDefaultMetrics({ register: this.registry });
  }

  eventRejected(reason: RejectReason): void {
    this.eventsRejected.inc({ reason });
  }

  subscriberDisconnected(reason: DisconnectReason): void {
    this.subscribersDisconnected.inc({ reason });
  }

  /** Where the stream side's gauges are read at each scrape. */
  observeStreams(readings: StreamReadings): void {
    this.streams = readings;
  }

  /** The backplane's metrics, registered on the first call: a backplane calls it when it starts. */
  get backplane(): BackplaneMetrics {
    if (this.backplaneMetrics) return this.backplaneMetrics;
    const registers = [this.registry];
    this.backplaneMetrics = {
      up: new Gauge({
        name: `${PREFIX}backplane_up`,
        help: 'Whether the backplane is up: 1 connected (and subscribed), 0 not',
        registers,
      }),
      published: new Counter({
        name: `${PREFIX}backplane_published_total`,
        help: 'Events this instance published to the backplane',
        registers,
      }),
      received: new Counter({
        name: `${PREFIX}backplane_received_total`,
        help: 'Events this instance received from the backplane',
        registers,
      }),
      errors: new Counter({
        name: `${PREFIX}backplane_errors_total`,
        help: 'Backplane failures by reason: dropped (an event not shared), connection (lost), foreign (a message not of this service), invalid (an event refused)',
        labelNames: ['reason'] as const,
        registers,
      }),
    };
    this.backplaneMetrics.up.set(0);
    for (const reason of BACKPLANE_ERROR_REASONS) this.backplaneMetrics.errors.inc({ reason }, 0);
    return this.backplaneMetrics;
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
