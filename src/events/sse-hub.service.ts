import type { ServerResponse } from 'node:http';
import { Injectable, Logger, type MessageEvent, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Observable, type Subscription } from 'rxjs';
import { AppConfig } from '../config/app-config.js';
import { EventBus } from './event-bus.service.js';
import type { BroadcastEvent } from './ingest.js';

export type DisconnectReason = 'client' | 'slow' | 'shutdown';

interface Subscriber {
  readonly res: ServerResponse;
  /** Last keep-alive or greeting written to this stream alone (broadcasts are tracked once for all). */
  lastOwnWriteAt: number;
}

const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');

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
  ) {}

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
      const subscriber: Subscriber = { res, lastOwnWriteAt: Date.now() };
      this.subscribers.add(subscriber);
      return () => {
        if (this.subscribers.delete(subscriber)) this.disconnects.client++;
      };
    });
  }

  /** Ends every stream cleanly (clients reconnect, elsewhere during a shutdown). */
  endAll(): void {
    for (const subscriber of this.subscribers) {
      this.subscribers.delete(subscriber);
      this.disconnects.shutdown++;
      subscriber.res.end();
    }
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
    this.writeAll(pending.length === 1 ? pending[0].frame : Buffer.concat(pending.map((e) => e.frame)));
  }

  private writeAll(chunk: Buffer): void {
    const limit = this.config.sseMaxBufferBytes;
    for (const subscriber of this.subscribers) {
      const { res } = subscriber;
      res.write(chunk);
      if (res.writableLength > limit) this.cutOff(subscriber);
    }
  }

  private cutOff(subscriber: Subscriber): void {
    const { res } = subscriber;
    this.subscribers.delete(subscriber);
    this.disconnects.slow++;
    this.logger.warn(
      `Disconnected a subscriber that does not read (${res.req?.socket?.remoteAddress ?? 'unknown'}): ` +
        `${res.writableLength} bytes unsent, limit SSE_MAX_BUFFER_BYTES=${this.config.sseMaxBufferBytes}`,
    );
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
