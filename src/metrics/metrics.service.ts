import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfoMetric } from '../common/build-info.js';
import { DISCONNECT_REASONS, REJECT_REASONS, type DisconnectReason, type RejectReason } from '../common/reasons.js';

/** Counters a backplane updates; registered only when one runs. */
export interface BackplaneMetrics {
  /** Events this instance sent to the other instances. */
  readonly published: Counter;
  /** Events received from the other instances. */
  readonly received: Counter;
  /** Events not shared (dropped or failed publishes), lost connections, messages ignored on the channel. */
  readonly errors: Counter;
}

const PREFIX = 'pillarbox_';

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

  private readonly subscribersDisconnected = new Counter({
    name: `${PREFIX}subscribers_disconnected_total`,
    help: 'Streams on GET /events that ended or were refused, by reason (client, slow, shutdown, auth)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  private subscriberCount: () => number = () => 0;
  private backplaneMetrics?: BackplaneMetrics;

  constructor() {
    const count = () => this.subscriberCount();
    new Gauge({
      name: `${PREFIX}subscribers`,
      help: 'Subscribers connected to GET /events on this instance',
      registers: [this.registry],
      // Read when scraped: nothing to update on connect and disconnect.
      collect() {
        this.set(count());
      },
    });
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

  /** Where the current number of subscribers is read at each scrape. */
  countSubscribersWith(count: () => number): void {
    this.subscriberCount = count;
  }

  /** The backplane's counters, registered on the first call: a backplane calls it when it starts. */
  get backplane(): BackplaneMetrics {
    this.backplaneMetrics ??= {
      published: new Counter({
        name: `${PREFIX}backplane_published_total`,
        help: 'Events this instance published to the backplane',
        registers: [this.registry],
      }),
      received: new Counter({
        name: `${PREFIX}backplane_received_total`,
        help: 'Events this instance received from the backplane',
        registers: [this.registry],
      }),
      errors: new Counter({
        name: `${PREFIX}backplane_errors_total`,
        help: 'Backplane failures: events not shared (dropped or failed publishes), lost connections, ignored messages',
        registers: [this.registry],
      }),
    };
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
