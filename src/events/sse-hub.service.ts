import type { ServerResponse } from 'node:http';
import {
  Injectable,
  Logger,
  SSE_ABORT_CONTROLLER,
  type MessageEvent,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Observable, type Subscription } from 'rxjs';
import { shownAddress } from '../common/client-address.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventBus } from './event-bus.service.js';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import type { StreamEndReason } from '../common/reasons.js';
import { KEEP_ALIVE, SseConnection, wireChunk, type WireChunk } from './sse-connection.js';
import { matchesFilter, type StreamFilter } from './stream-filter.js';

interface Subscriber {
  readonly connection: SseConnection;
  /** Only events that match it are sent; absent on unfiltered subscribers, which take the shared path. */
  readonly filter?: StreamFilter;
  /** Since when (Date.now()) the unsent bytes are above SSE_MAX_BUFFER_BYTES; 0: they are not. */
  backlogSince: number;
  /** The unsent bytes at `backlogSince`: a backlog that has not shrunk a window later is a sustained one. */
  backlogBytes: number;
}

type FilteredSubscriber = Subscriber & { readonly filter: StreamFilter };

/**
 * How long a subscriber's unsent bytes may stay above SSE_MAX_BUFFER_BYTES without shrinking. A consumer that keeps
 * up on average works a burst off well within it (24 events of 250 KB at 500 KB/s: about 12 s above 1 MiB, but
 * shrinking all along); one that stops reading only grows, if only by keep-alives.
 */
export const SLOW_READER_WINDOW_MS = 10_000;
/** Unsent bytes, in events of MAX_EVENT_BYTES, past which a subscriber is cut off at once: the memory bound. */
export const MAX_BACKLOG_EVENTS = 32;

/** The filtered subscribers with equal filters (same key): a turn's matching frames are found once for them all. */
interface FilterGroup {
  readonly filter: StreamFilter;
  readonly members: Set<FilteredSubscriber>;
}

/** Bounds of the pause between two flushes (see SseHub.flush): the latency that batching may add. */
const MIN_FLUSH_GAP_MS = 1;
const MAX_FLUSH_GAP_MS = 20;

function isFiltered(subscriber: Subscriber): subscriber is FilteredSubscriber {
  return subscriber.filter !== undefined;
}

/** What the handover needs of Nest's SseStream (router/sse-stream.js in @nestjs/core). */
interface NestSseStream {
  commitHeaders(): void;
  unpipe(destination: ServerResponse): unknown;
}

/**
 * Drops what Nest and Express leave on the request and response of a stream handed over, which would live as long
 * as the stream and serve nothing once its handler has run: the AbortController of `@SseSignal()`, aborted once the
 * Observable completed, with an error whose stack holds on to Nest's closures of the stream; Express's router
 * closure (`req.next`) with its state for this request, the route's `req.params`, the parsed URL and `res.locals`.
 */
function releaseRequestState(res: ServerResponse): void {
  const req = res.req as
    | (ServerResponse['req'] & {
        [SSE_ABORT_CONTROLLER]?: AbortController;
        next?: unknown;
        params?: unknown;
        _parsedUrl?: unknown;
      })
    | undefined;
  if (!req) return;
  if (req[SSE_ABORT_CONTROLLER]?.signal.aborted) req[SSE_ABORT_CONTROLLER] = undefined;
  req.next = undefined;
  req.params = undefined;
  req._parsedUrl = undefined;
  (res as { locals?: unknown }).locals = undefined;
}

function isNestSseStream(source: unknown): source is NestSseStream {
  const stream = source as Partial<NestSseStream> | undefined;
  return typeof stream?.commitHeaders === 'function' && typeof stream.unpipe === 'function';
}

/**
 * Who a stream is for, in its access log lines: the request id given by the HTTP logger and the client address
 * (its network only, with ANONYMIZE_USER_IP).
 */
function streamClient(res: ServerResponse, anonymize: boolean): { reqId?: unknown; ip?: string } {
  const req = res.req as (typeof res.req & { id?: unknown; ip?: string }) | undefined;
  return { reqId: req?.id, ip: req?.ip && shownAddress(req.ip, anonymize) };
}

/**
 * The subscribers of this instance. Frames from the event bus that arrive in one event-loop turn (or, under load,
 * in the short pause after the previous flush) are joined and written with one write per subscriber, not one per
 * event, through each subscriber's SseConnection (the only code that writes to sockets). A subscriber whose unsent
 * bytes stay above SSE_MAX_BUFFER_BYTES without shrinking, or pass MAX_BACKLOG_EVENTS events of MAX_EVENT_BYTES, is
 * cut off, so nobody waits for it and memory stays bounded (see fallenBehind()).
 * Filtered subscribers are kept apart, so that the unfiltered ones pay nothing for them: they get a chunk made
 * of the turn's matching frames, built once per distinct filter. Filters are indexed by session id, so that a turn
 * looks only at the filters its events can match: with thousands of subscribers each following one session, a
 * turn costs (and allocates) in proportion to its events, not to the subscribers.
 */
@Injectable()
export class SseHub implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SseHub.name);
  private readonly subscribers = new Set<Subscriber>();
  private readonly filtered = new Set<FilteredSubscriber>();
  /** The filtered subscribers by filter key; the groups by each session id they take, and those that take any. */
  private readonly groups = new Map<string, FilterGroup>();
  private readonly groupsBySession = new Map<string, Set<FilterGroup>>();
  private readonly groupsOfAnySession = new Set<FilterGroup>();
  private pending: BroadcastEvent[] = [];
  private flushScheduled = false;
  private lastFlushEnd = 0;
  private flushGapMs = MIN_FLUSH_GAP_MS;
  private lastBroadcastAt = Date.now();
  private busSubscription?: Subscription;
  private keepAliveTimer?: NodeJS.Timeout;
  private handover = false;
  private warnedNoHandover = false;
  private readonly disconnects: Record<StreamEndReason, number> = { client: 0, slow: 0, shutdown: 0 };
  /** Unsent bytes past which a subscriber is cut off at once, whatever the window says. */
  private readonly maxBacklogBytes: number;

  constructor(
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    metrics.countSubscribersWith(() => this.size);
    this.maxBacklogBytes = Math.max(config.sseMaxBufferBytes, MAX_BACKLOG_EVENTS * config.maxEventBytes);
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
    return this.subscribers.size + this.filtered.size;
  }

  /** The sockets of the open streams (for the shutdown: every other connection may still carry a POST). */
  streamSockets(): Set<unknown> {
    const sockets = new Set<unknown>();
    for (const set of [this.subscribers, this.filtered]) for (const s of set) sockets.add(s.connection.res.socket);
    return sockets;
  }

  get isFull(): boolean {
    return this.size >= this.config.maxSubscribers;
  }

  stats(): { subscribers: number; max: number; disconnected: Record<StreamEndReason, number> } {
    return {
      subscribers: this.size,
      max: this.config.maxSubscribers,
      disconnected: { ...this.disconnects },
    };
  }

  /**
   * Lets attach() take each stream over from Nest once Nest has sent its headers (see attach()). Called at start-up
   * by StreamHandover, only when no Nest feature would be skipped by it.
   */
  handOverStreams(): void {
    this.handover = true;
  }

  /**
   * The stream of one subscriber, for an `@Sse()` handler: events are written by the hub straight to the
   * response, only those that match `filter` when there is one. Nest sends the headers at once (so `onopen` fires
   * before any event), with a greeting comment.
   *
   * With the handover (handOverStreams()), the hub then takes the response over: it unpipes Nest's SseStream
   * (caught on the response's `pipe` event), writes the greeting itself and completes the Observable, so that Nest
   * settles and its per-stream objects (the SseStream, the RxJS chain, its close watcher and probe timer) are
   * released; the hub watches the response's `close` itself. Without it, the Observable's first message is the
   * greeting, and unsubscribing (Nest does it when the client goes) removes the subscriber.
   */
  attach(res: ServerResponse, filter?: StreamFilter): Observable<MessageEvent> {
    // Nest pipes its SseStream into the response just before it subscribes.
    let nestStream: unknown;
    if (this.handover) res.once('pipe', (source: unknown) => (nestStream = source));
    return new Observable<MessageEvent>((observer) => {
      const handedOver = this.handover && res.req?.method !== 'HEAD' ? this.handOverable(nestStream) : undefined;
      nestStream = undefined; // not held by this closure's scope, which lives as long as the stream
      // By then Nest has sent the headers. A HEAD request has no body: Nest ends it, nothing is written.
      if (handedOver) handedOver.commitHeaders();
      else observer.next({ comment: 'connected' });
      const subscriber = this.open(res, filter);
      if (!subscriber) return;
      if (!handedOver) return () => this.left(subscriber);
      // Unpiped first: once the Observable completes, Nest ends its SseStream, which would end a response still
      // piped from it.
      handedOver.unpipe(res);
      subscriber.connection.greet();
      this.leaveOnClose(subscriber);
      observer.complete();
      releaseRequestState(res);
    });
  }

  /** Adds the subscriber of a response whose headers are sent; undefined when it has no body (HEAD) or socket. */
  private open(res: ServerResponse, filter: StreamFilter | undefined): Subscriber | undefined {
    const connection = SseConnection.open(res);
    if (!connection) return undefined;
    const subscriber: Subscriber = { connection, filter, backlogSince: 0, backlogBytes: 0 };
    this.add(subscriber);
    this.logger.log({
      msg: 'subscriber connected',
      ...streamClient(res, this.config.anonymizeUserIp),
      // Not the filter's values: a session id is personal data, kept out of logs like the query string.
      ...(filter && { filtered: true }),
      subscribers: this.size,
    });
    return subscriber;
  }

  /** A stream taken over from Nest: its subscriber leaves when the response closes (the client went, or it ended). */
  private leaveOnClose(subscriber: Subscriber): void {
    subscriber.connection.res.on('close', () => this.left(subscriber));
  }

  /** The client went: removed and logged, unless it was removed already (cut off, shut down). */
  private left(subscriber: Subscriber): void {
    if (this.remove(subscriber)) this.disconnected(subscriber, 'client');
  }

  /**
   * The stream Nest piped into a response, when it can be handed over; undefined when Nest's `@Sse()` did not pipe
   * an SseStream (a Nest upgrade): the stream then stays with Nest, as without the handover, with one warning.
   */
  private handOverable(source: unknown): NestSseStream | undefined {
    if (isNestSseStream(source)) return source;
    if (!this.warnedNoHandover) {
      this.warnedNoHandover = true;
      this.logger.warn(
        "Nest's @Sse() did not pipe an SseStream into the response: streams stay with Nest until they close",
      );
    }
    return undefined;
  }

  /** Ends every stream cleanly, and its connection (see setUpStreamHeaders); clients reconnect, elsewhere during a shutdown. */
  endAll(): void {
    // Events accepted already are written first: each got its 204.
    if (this.pending.length) this.flush();
    for (const set of [this.subscribers, this.filtered]) {
      for (const subscriber of set) {
        this.remove(subscriber);
        this.disconnected(subscriber, 'shutdown');
        subscriber.connection.end();
      }
    }
  }

  private add(subscriber: Subscriber): void {
    if (!isFiltered(subscriber)) {
      this.subscribers.add(subscriber);
      return;
    }
    this.filtered.add(subscriber);
    const { filter } = subscriber;
    let group = this.groups.get(filter.key);
    if (!group) {
      group = { filter, members: new Set() };
      this.groups.set(filter.key, group);
      if (!filter.sessionIds) this.groupsOfAnySession.add(group);
      for (const sessionId of filter.sessionIds ?? []) {
        let groups = this.groupsBySession.get(sessionId);
        if (!groups) this.groupsBySession.set(sessionId, (groups = new Set()));
        groups.add(group);
      }
    }
    group.members.add(subscriber);
  }

  /** Removes a subscriber from the hub; false when it was not there (already removed). */
  private remove(subscriber: Subscriber): boolean {
    if (!isFiltered(subscriber)) return this.subscribers.delete(subscriber);
    if (!this.filtered.delete(subscriber)) return false;
    const { filter } = subscriber;
    const group = this.groups.get(filter.key);
    if (group?.members.delete(subscriber) && group.members.size === 0) {
      this.groups.delete(filter.key);
      this.groupsOfAnySession.delete(group);
      for (const sessionId of filter.sessionIds ?? []) {
        const groups = this.groupsBySession.get(sessionId);
        groups?.delete(group);
        if (groups?.size === 0) this.groupsBySession.delete(sessionId);
      }
    }
    return true;
  }

  /** Bookkeeping of a subscriber already removed from the set: counters and the access log line. */
  private disconnected(subscriber: Subscriber, reason: StreamEndReason): void {
    this.disconnects[reason]++;
    this.metrics.subscriberDisconnected(reason);
    const line = {
      msg: 'subscriber disconnected',
      ...streamClient(subscriber.connection.res, this.config.anonymizeUserIp),
      reason,
      durationMs: Date.now() - subscriber.connection.connectedAt,
      subscribers: this.size,
    };
    if (reason !== 'slow') return this.logger.log(line);
    this.logger.warn({
      ...line,
      unsentBytes: subscriber.connection.unsentBytes,
      hint:
        `a subscriber is cut off when its unsent bytes stay above SSE_MAX_BUFFER_BYTES=${this.config.sseMaxBufferBytes} ` +
        `for ${SLOW_READER_WINDOW_MS} ms without shrinking, or pass ${this.maxBacklogBytes}`,
    });
  }

  private enqueue(event: BroadcastEvent): void {
    this.pending.push(event);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the I/O of this turn, so that every event accepted in it goes out in the same write; and not sooner
    // than the pause that the previous flush asks for (see flush()).
    const wait = this.lastFlushEnd + this.flushGapMs - performance.now();
    if (wait > 0) setTimeout(this.flushNow, wait);
    else setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => this.flush();

  private flush(): void {
    const started = performance.now();
    this.flushScheduled = false;
    const pending = this.pending;
    if (pending.length === 0) return; // flushed by endAll() meanwhile
    this.pending = [];
    this.lastBroadcastAt = Date.now();
    const written = this.writeAll(
      wireChunk(pending.length === 1 ? pending[0].frame : Buffer.concat(pending.map((e) => e.frame))),
      this.lastBroadcastAt,
    );
    // One update per flush, whatever the number of subscribers.
    if (written > 0) this.metrics.framesDelivered.inc(written * pending.length);
    if (this.filtered.size) this.writeFiltered(pending, this.lastBroadcastAt);
    this.lastFlushEnd = performance.now();
    // Each write is a system call per subscriber, whatever its size: under load, fewer and larger writes do the
    // same work for much less. The next flush waits at least MIN_FLUSH_GAP_MS, and as long as this one took, so
    // that writing never takes more than about half the time; events meanwhile join the next write.
    this.flushGapMs = Math.min(MAX_FLUSH_GAP_MS, Math.max(MIN_FLUSH_GAP_MS, this.lastFlushEnd - started));
  }

  /** Writes to every subscriber; returns how many were written to and kept. */
  private writeAll(chunk: WireChunk, now: number): number {
    let written = 0;
    for (const subscriber of this.subscribers) if (this.send(subscriber, chunk, now)) written++;
    return written;
  }

  /** Writes to one subscriber; false when it was cut off for not keeping up. */
  private send(subscriber: Subscriber, chunk: WireChunk, now: number): boolean {
    const { connection } = subscriber;
    connection.write(chunk, now);
    const unsent = connection.unsentBytes;
    if (unsent <= this.config.sseMaxBufferBytes) {
      subscriber.backlogSince = 0;
      return true;
    }
    if (!this.fallenBehind(subscriber, unsent, now)) return true;
    this.cutOff(subscriber);
    return false;
  }

  /**
   * Whether a backlog above SSE_MAX_BUFFER_BYTES is a sustained one: past the memory bound, or not smaller than it
   * was SLOW_READER_WINDOW_MS before. A burst (events of MAX_EVENT_BYTES arriving together) passes the threshold
   * for a moment; a reader that keeps up on average works it off, and its backlog shrinks from window to window.
   */
  private fallenBehind(subscriber: Subscriber, unsent: number, now: number): boolean {
    if (unsent > this.maxBacklogBytes) return true;
    if (subscriber.backlogSince === 0) {
      subscriber.backlogSince = now;
      subscriber.backlogBytes = unsent;
      return false;
    }
    if (now - subscriber.backlogSince < SLOW_READER_WINDOW_MS) return false;
    if (unsent >= subscriber.backlogBytes) return true;
    subscriber.backlogSince = now;
    subscriber.backlogBytes = unsent;
    return false;
  }

  /** Each filtered subscriber gets the turn's frames that match its filter, if any. */
  private writeFiltered(pending: BroadcastEvent[], now: number): void {
    // The filters this turn's events can match: those of their session ids, and those of any session.
    const candidates = new Set(this.groupsOfAnySession);
    for (const event of pending) {
      const groups = event.sessionId === undefined ? undefined : this.groupsBySession.get(event.sessionId);
      if (groups) for (const group of groups) candidates.add(group);
    }
    let delivered = 0;
    for (const { filter, members } of candidates) {
      const frames: Buffer[] = [];
      for (const event of pending) if (matchesFilter(filter, event)) frames.push(event.frame);
      if (!frames.length) continue;
      const chunk = wireChunk(frames.length === 1 ? frames[0] : Buffer.concat(frames));
      // A member cut off meanwhile leaves the set: a Set's iteration skips it.
      for (const subscriber of members) if (this.send(subscriber, chunk, now)) delivered += frames.length;
    }
    if (delivered > 0) this.metrics.framesDelivered.inc(delivered);
  }

  private cutOff(subscriber: Subscriber): void {
    this.remove(subscriber);
    this.disconnected(subscriber, 'slow');
    subscriber.connection.destroy();
  }

  private sendKeepAlives(): void {
    const now = Date.now();
    const due = now - this.config.sseHeartbeatMs;
    // Unfiltered subscribers all got the last broadcast: when it is recent, none of them needs a keep-alive.
    if (this.lastBroadcastAt <= due) this.keepAlive(this.subscribers, now, due);
    if (this.filtered.size) this.keepAlive(this.filtered, now, due);
  }

  private keepAlive(subscribers: Set<Subscriber>, now: number, due: number): void {
    for (const subscriber of subscribers) {
      if (subscriber.connection.lastWriteAt > due) continue;
      this.send(subscriber, KEEP_ALIVE, now);
    }
  }
}
