import type { ServerResponse } from 'node:http';
import { Injectable, Logger, type MessageEvent, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Observable, type Subscription } from 'rxjs';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventBus } from './event-bus.service.js';
import type { BroadcastEvent } from './ingest.js';

export type DisconnectReason = 'client' | 'slow' | 'shutdown';

interface Subscriber {
  readonly res: ServerResponse;
  readonly connectedAt: number;
  /** Last keep-alive or greeting written to this stream alone (broadcasts are tracked once for all). */
  lastOwnWriteAt: number;
}

const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');

/** Who a stream is for, in its access log lines: the request id given by the HTTP logger and the client address. */
function streamClient(res: ServerResponse): { reqId?: unknown; ip?: string } {
  const req = res.req as (typeof res.req & { id?: unknown; ip?: string }) | undefined;
  return { reqId: req?.id, ip: req?.ip };
}

/**
 * The subscribers of this instance. Frames from the event bus that arrive in one event-loop turn are
 * joined and written with one write per subscriber (per turn, not per event). A subscriber whose unsent
 * bytes pass SSE_MAX_BUFFER_BYTES is cut off, so nobody waits for it and memory stays bounded.
 */
@Injectable()
export class SseHub implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SseHub.name);
  private readonly subscribers = new Set<Subscriber>();
  private pending: BroadcastEvent[] = [];
  private flushScheduled = false;
  private lastBroadcastAt = Date.now();
  private busSubscription?: Subscription;
  private keepAliveTimer?: NodeJS.Timeout;
  private readonly disconnects: Record<DisconnectReason, number> = { client: 0, slow: 0, shutdown: 0 };

  constructor(
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    metrics.countSubscribersWith(() => this.subscribers.size);
  }

  onModuleInit(): void {
    this.busSubscription = this.bus.events$.subscribe((event) => this.enqueue(event));
    const tick = Math.max(5, Math.floor(this.config.sseHeartbeatMs / 4));
    this.keepAliveTimer = setInterval(() => this.sendKeepAlives(), tick);
    this.keepAliveTimer.unref();
  }

  onModuleDestroy(): void {
    this.busSubscription?.unsubscribe();
    clearInterval(this.keepAliveTimer);
    this.endAll();
  }

  get size(): number {
    return this.subscribers.size;
  }

  get isFull(): boolean {
    return this.subscribers.size >= this.config.maxSubscribers;
  }

  stats(): { subscribers: number; max: number; disconnected: Record<DisconnectReason, number> } {
    return {
      subscribers: this.subscribers.size,
      max: this.config.maxSubscribers,
      disconnected: { ...this.disconnects },
    };
  }

  /**
   * The stream of one subscriber, for an `@Sse()` handler. Its first message, a comment, makes Nest send the
   * headers at once (so `onopen` fires before any event); events are then written by the hub straight to the
   * response, and unsubscribing (Nest does it when the client goes) removes the subscriber.
   */
  attach(res: ServerResponse): Observable<MessageEvent> {
    return new Observable<MessageEvent>((observer) => {
      observer.next({ comment: 'connected' });
      const now = Date.now();
      const subscriber: Subscriber = { res, connectedAt: now, lastOwnWriteAt: now };
      this.subscribers.add(subscriber);
      this.logger.log({ msg: 'subscriber connected', ...streamClient(res), subscribers: this.subscribers.size });
      return () => {
        if (this.subscribers.delete(subscriber)) this.disconnected(subscriber, 'client');
      };
    });
  }

  /** Ends every stream cleanly (clients reconnect, elsewhere during a shutdown). */
  endAll(): void {
    for (const subscriber of this.subscribers) {
      this.subscribers.delete(subscriber);
      this.disconnected(subscriber, 'shutdown');
      subscriber.res.end();
    }
  }

  /** Bookkeeping of a subscriber already removed from the set: counters and the access log line. */
  private disconnected(subscriber: Subscriber, reason: DisconnectReason): void {
    this.disconnects[reason]++;
    this.metrics.subscriberDisconnected(reason);
    const line = {
      msg: 'subscriber disconnected',
      ...streamClient(subscriber.res),
      reason,
      durationMs: Date.now() - subscriber.connectedAt,
      subscribers: this.subscribers.size,
    };
    if (reason !== 'slow') return this.logger.log(line);
    this.logger.warn({
      ...line,
      unsentBytes: subscriber.res.writableLength,
      hint: `a subscriber that does not read is cut off past SSE_MAX_BUFFER_BYTES=${this.config.sseMaxBufferBytes}`,
    });
  }

  private enqueue(event: BroadcastEvent): void {
    this.pending.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the I/O of this turn: every event accepted in it goes out in the same write.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    this.pending = [];
    this.lastBroadcastAt = Date.now();
    const written = this.writeAll(pending.length === 1 ? pending[0].frame : Buffer.concat(pending.map((e) => e.frame)));
    // One update per flush, whatever the number of subscribers.
    if (written > 0) this.metrics.framesDelivered.inc(written * pending.length);
  }

  /** Writes to every subscriber; returns how many were written to and kept. */
  private writeAll(chunk: Buffer): number {
    const limit = this.config.sseMaxBufferBytes;
    let written = 0;
    for (const subscriber of this.subscribers) {
      const { res } = subscriber;
      res.write(chunk);
      if (res.writableLength > limit) this.cutOff(subscriber);
      else written++;
    }
    return written;
  }

  private cutOff(subscriber: Subscriber): void {
    const { res } = subscriber;
    this.subscribers.delete(subscriber);
    this.disconnected(subscriber, 'slow');
    res.destroy();
  }

  private sendKeepAlives(): void {
    const now = Date.now();
    const due = now - this.config.sseHeartbeatMs;
    if (this.lastBroadcastAt > due) return; // everyone got a broadcast recently
    const limit = this.config.sseMaxBufferBytes;
    for (const subscriber of this.subscribers) {
      if (subscriber.lastOwnWriteAt > due) continue;
      subscriber.lastOwnWriteAt = now;
      subscriber.res.write(KEEP_ALIVE);
      if (subscriber.res.writableLength > limit) this.cutOff(subscriber);
    }
  }
}
