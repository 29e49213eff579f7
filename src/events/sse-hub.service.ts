import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  ServiceUnavailableException,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Subscription } from 'rxjs';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { addressKey, clientAddressResolver, shownAddress } from '../common/client-address.js';
import { CORS_HEADERS } from '../common/cors.js';
import { isStreamRequest } from '../common/stream-request.js';
import type { StreamEndReason } from '../common/reasons.js';
import { AppConfig } from '../config/app-config.js';
import { Timings } from '../config/timings.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventBus } from './event-bus.service.js';
import { matchesFilter, type StreamFilter } from './stream-filter.js';
import { UnsentBytes, type HeldBuffer } from './unsent-bytes.js';

/**
 * The headers of a stream. `Connection: close`: the connection ends with the stream, so that a proxy never puts
 * it back in its keep-alive pool and sends a POST on it just as this instance closes it.
 */
const STREAM_HEADERS = {
  ...CORS_HEADERS,
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  Pragma: 'no-cache',
  Expires: '0',
  'X-Accel-Buffering': 'no',
  Connection: 'close',
};

const GREETING = Buffer.from(': connected\n\n');
const KEEP_ALIVE = [Buffer.from(': keep-alive\n\n')];
const EXPIRED = Buffer.from(': the token expired: reconnect with a fresh one\n\n');

/** Unsent bytes, in events of MAX_EVENT_BYTES, past which a subscriber is cut off at once: the memory bound. */
export const MAX_BACKLOG_EVENTS = 32;

/**
 * Unsent bytes below which a subscriber is never cut off to bring the process back under SSE_BUFFER_BUDGET_BYTES:
 * a reader that keeps up has less than this pending.
 */
const KEEPING_UP_BYTES = 64 * 1024;

/** Bounds of the pause between two flushes (see SseHub.flush): the latency that batching may add. */
const MIN_FLUSH_GAP_MS = 1;
const MAX_FLUSH_GAP_MS = 20;

interface Subscriber {
  readonly res: ServerResponse;
  /** Only events that match it are sent; absent on unfiltered subscribers, which share one write per flush. */
  readonly filter?: StreamFilter;
  readonly connectedAt: number;
  /** Who it is, for its log lines: the HTTP logger's request id and the client address. */
  readonly client: { reqId?: unknown; ip: string };
  /** Its client address as MAX_SUBSCRIBERS_PER_ADDRESS counts it (an IPv6 address by its /64). */
  readonly addressKey: string;
  /** Ends the stream when its token expires. */
  expiry?: NodeJS.Timeout;
  /** When anything (events, greeting, keep-alive) was last written to it. */
  lastWriteAt: number;
  /** Since when (Date.now()) the unsent bytes are above SSE_MAX_BUFFER_BYTES; 0: they are not. */
  backlogSince: number;
  /** The unsent bytes at `backlogSince`: a backlog that has not shrunk a window later is a sustained one. */
  backlogBytes: number;
}

type FilteredSubscriber = Subscriber & { readonly filter: StreamFilter };

/** The filtered subscribers with equal filters (same key): a turn's matching frames are found once for them all. */
interface FilterGroup {
  readonly filter: StreamFilter;
  readonly members: Set<FilteredSubscriber>;
}

function isFiltered(subscriber: Subscriber): subscriber is FilteredSubscriber {
  return subscriber.filter !== undefined;
}

/**
 * The subscribers of this instance, each a response of GET /events that the hub writes to. Frames from the event
 * bus that arrive in one event-loop turn (or, under load, in the short pause after the previous flush) go out with
 * one write per subscriber, not one per event. A subscriber whose unsent bytes stay above SSE_MAX_BUFFER_BYTES
 * without shrinking, or pass MAX_BACKLOG_EVENTS events of MAX_EVENT_BYTES, is cut off, so nobody waits for it and
 * memory stays bounded (see fallenBehind()).
 * Filtered subscribers are kept apart, so that the unfiltered ones pay nothing for them. Their filters are grouped
 * (equal filters, one group) and indexed by session id, or by event name when they take any session, so that a turn
 * looks only at the groups its events can match.
 * A frame is held once, however many subscribers wait for it: unfiltered subscribers share one buffer per flush, and
 * filtered ones get the frames themselves. What all sockets hold is counted (UnsentBytes); past
 * SSE_BUFFER_BUDGET_BYTES, the largest backlogs are cut off first (see enforceBudget()).
 */
@Injectable()
export class SseHub implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SseHub.name);
  private readonly subscribers = new Set<Subscriber>();
  private readonly filtered = new Set<FilteredSubscriber>();
  /**
   * The filtered subscribers by filter key; the groups by each session id they take, and those that take any session
   * by each event name they take (every filter has one or the other).
   */
  private readonly groups = new Map<string, FilterGroup>();
  private readonly groupsBySession = new Map<string, Set<FilterGroup>>();
  private readonly groupsByEventName = new Map<string, Set<FilterGroup>>();
  /** Open streams per client address (addressKey), for MAX_SUBSCRIBERS_PER_ADDRESS. */
  private readonly perAddress = new Map<string, number>();
  /** The sockets that carry a stream (or asked for one): a request that follows on the connection is refused. */
  private readonly streamingSockets = new WeakSet<Socket>();
  readonly unsent = new UnsentBytes();
  private pending: BroadcastEvent[] = [];
  private flushScheduled = false;
  private lastFlushEnd = 0;
  private flushGapMs = MIN_FLUSH_GAP_MS;
  private lastBroadcastAt = Date.now();
  private busSubscription?: Subscription;
  private keepAliveTimer?: NodeJS.Timeout;
  private readonly disconnects: Record<StreamEndReason, number> = { client: 0, slow: 0, shutdown: 0, expired: 0 };
  private budgetCheckScheduled = false;
  /** Unsent bytes past which a subscriber is cut off at once, whatever the window says. */
  private readonly maxBacklogBytes: number;
  private readonly clientAddress: (req: IncomingMessage) => string;
  private readonly slowHint: string;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
    private readonly timings: Timings,
    private readonly metrics: MetricsService,
  ) {
    metrics.observeStreams({
      subscribers: () => this.size,
      unsentBytes: () => this.unsent.total,
    });
    this.maxBacklogBytes = Math.max(config.sseMaxBufferBytes, MAX_BACKLOG_EVENTS * config.maxEventBytes);
    this.clientAddress = clientAddressResolver(config.trustProxy);
    this.slowHint =
      `a subscriber is cut off when its unsent bytes stay above SSE_MAX_BUFFER_BYTES=${config.sseMaxBufferBytes} ` +
      `for ${timings.slowReaderWindowMs} ms without shrinking, or pass ${this.maxBacklogBytes}`;
  }

  onModuleInit(): void {
    // Marked as the request arrives, in the order of the connection's requests: a POST pipelined behind it is
    // handled concurrently, and may reach its handler before this stream has been set up.
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    server?.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!isStreamRequest(req)) return;
      this.streamingSockets.add(req.socket);
      // A refused stream's answer ends, and the connection may serve requests again.
      res.once('finish', () => this.streamingSockets.delete(req.socket));
    });
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

  get isFull(): boolean {
    return this.size >= this.config.maxSubscribers;
  }

  /** The sockets of the open streams (for the shutdown: every other connection may still carry a POST). */
  streamSockets(): Set<unknown> {
    const sockets = new Set<unknown>();
    for (const set of [this.subscribers, this.filtered]) for (const s of set) sockets.add(s.res.socket);
    return sockets;
  }

  stats(): { subscribers: number; max: number; disconnected: Record<StreamEndReason, number> } {
    return { subscribers: this.size, max: this.config.maxSubscribers, disconnected: { ...this.disconnects } };
  }

  /**
   * Makes `res` a stream of every event from now on (only those that match `filter` when there is one): sends the
   * headers and a greeting comment at once, so that `onopen` fires before any event. A HEAD request gets the
   * headers only. A stream whose token expires at `expiresAt` (ms since the epoch) ends then, with a last comment
   * saying so, so that an EventSource reconnects (with a fresh token).
   * @throws ServiceUnavailableException at MAX_SUBSCRIBERS, HttpException 429 at MAX_SUBSCRIBERS_PER_ADDRESS for the
   *   client's address; both counted, nothing written.
   */
  subscribe(req: IncomingMessage, res: ServerResponse, filter?: StreamFilter, expiresAt?: number): void {
    const address = this.clientAddress(req);
    const key = addressKey(address);
    if (this.isFull) {
      this.metrics.subscriberDisconnected('full');
      throw new ServiceUnavailableException(`Too many subscribers (MAX_SUBSCRIBERS=${this.config.maxSubscribers})`);
    }
    if ((this.perAddress.get(key) ?? 0) >= this.config.maxSubscribersPerAddress) {
      this.metrics.subscriberDisconnected('per_address');
      throw new HttpException(
        {
          statusCode: HttpStatus.TOO_MANY_REQUESTS,
          error: 'Too Many Requests',
          message: `Too many streams from this address (MAX_SUBSCRIBERS_PER_ADDRESS=${this.config.maxSubscribersPerAddress})`,
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    res.writeHead(200, STREAM_HEADERS);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Frames leave at once, and an idle stream is not timed out.
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    const now = Date.now();
    const subscriber: Subscriber = {
      res,
      filter,
      connectedAt: now,
      client: { reqId: (req as { id?: unknown }).id, ip: shownAddress(address, this.config.anonymizeUserIp) },
      addressKey: key,
      lastWriteAt: now,
      backlogSince: 0,
      backlogBytes: 0,
    };
    res.write(GREETING);
    this.add(subscriber);
    res.once('close', () => this.left(subscriber));
    if (expiresAt !== undefined) {
      // setTimeout takes at most 2^31 - 1 ms (24.8 days): a token lasting longer ends the stream then, and the
      // client comes back with it.
      subscriber.expiry = setTimeout(
        () => this.expire(subscriber),
        Math.min(2 ** 31 - 1, Math.max(0, expiresAt - now)),
      );
      subscriber.expiry.unref();
    }
    this.logger.log({
      msg: 'subscriber connected',
      ...subscriber.client,
      // Not the filter's values: a session id is personal data, kept out of logs like the query string.
      ...(filter && { filtered: true }),
      subscribers: this.size,
    });
  }

  /**
   * Whether `socket` carries a stream, or asked for one: a request pipelined behind GET /events on its connection
   * could never be answered (the stream's response never ends), so it must not be acted on.
   */
  carriesStream(socket: Socket | null | undefined): boolean {
    return socket ? this.streamingSockets.has(socket) : false;
  }

  /** Ends every stream cleanly, and its connection; clients reconnect, elsewhere during a shutdown. */
  endAll(): void {
    // Events accepted already are written first: each got its 204.
    if (this.pending.length) this.flush();
    for (const set of [this.subscribers, this.filtered]) {
      for (const subscriber of set) {
        this.remove(subscriber);
        this.disconnected(subscriber, 'shutdown');
        subscriber.res.end();
      }
    }
  }

  /** The stream's token expired: a last comment, then the end of the response. */
  private expire(subscriber: Subscriber): void {
    if (!this.remove(subscriber)) return;
    this.disconnected(subscriber, 'expired');
    subscriber.res.end(EXPIRED);
  }

  /** The client went: removed and logged, unless it was removed already (cut off, shut down). */
  private left(subscriber: Subscriber): void {
    if (this.remove(subscriber)) this.disconnected(subscriber, 'client');
  }

  private add(subscriber: Subscriber): void {
    this.perAddress.set(subscriber.addressKey, (this.perAddress.get(subscriber.addressKey) ?? 0) + 1);
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
      for (const [index, values] of this.indexesOf(filter)) {
        for (const value of values) {
          let groups = index.get(value);
          if (!groups) index.set(value, (groups = new Set()));
          groups.add(group);
        }
      }
    }
    group.members.add(subscriber);
  }

  /** Removes a subscriber from the hub; false when it was not there (already removed). */
  private remove(subscriber: Subscriber): boolean {
    const removed = isFiltered(subscriber) ? this.removeFiltered(subscriber) : this.subscribers.delete(subscriber);
    if (removed) {
      clearTimeout(subscriber.expiry);
      const left = (this.perAddress.get(subscriber.addressKey) ?? 1) - 1;
      if (left > 0) this.perAddress.set(subscriber.addressKey, left);
      else this.perAddress.delete(subscriber.addressKey);
    }
    return removed;
  }

  private removeFiltered(subscriber: FilteredSubscriber): boolean {
    if (!this.filtered.delete(subscriber)) return false;
    const { filter } = subscriber;
    const group = this.groups.get(filter.key);
    if (group?.members.delete(subscriber) && group.members.size === 0) {
      this.groups.delete(filter.key);
      for (const [index, values] of this.indexesOf(filter)) {
        for (const value of values) {
          const groups = index.get(value);
          groups?.delete(group);
          if (groups?.size === 0) index.delete(value);
        }
      }
    }
    return true;
  }

  /** Where a filter's group is indexed: by its session ids, or, when it takes any session, by its event names. */
  private indexesOf(filter: StreamFilter): Array<[Map<string, Set<FilterGroup>>, ReadonlySet<string>]> {
    if (filter.sessionIds) return [[this.groupsBySession, filter.sessionIds]];
    return filter.eventNames ? [[this.groupsByEventName, filter.eventNames]] : [];
  }

  /** Bookkeeping of a subscriber already removed from the hub: counters and the access log line. */
  private disconnected(subscriber: Subscriber, reason: StreamEndReason, hint?: string): void {
    this.disconnects[reason]++;
    this.metrics.subscriberDisconnected(reason);
    const line = {
      msg: 'subscriber disconnected',
      ...subscriber.client,
      reason,
      durationMs: Date.now() - subscriber.connectedAt,
      subscribers: this.size,
    };
    if (reason !== 'slow') return this.logger.log(line);
    this.logger.warn({ ...line, unsentBytes: subscriber.res.writableLength, hint });
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
    const now = (this.lastBroadcastAt = Date.now());
    if (this.subscribers.size) {
      // One buffer for every unfiltered subscriber: the turn's frames, joined once.
      const chunk = pending.length === 1 ? pending[0].frame : Buffer.concat(pending.map((e) => e.frame));
      const frames = [chunk];
      const holds = [this.unsent.hold(chunk)];
      let written = 0;
      for (const subscriber of this.subscribers) if (this.send(subscriber, frames, holds, now)) written++;
      // One update per flush, whatever the number of subscribers.
      if (written > 0) this.metrics.framesDelivered.inc(written * pending.length);
    }
    if (this.filtered.size) this.writeFiltered(pending, now);
    this.checkBudget();
    this.lastFlushEnd = performance.now();
    // Each write is a system call per subscriber, whatever its size: under load, fewer and larger writes do the
    // same work for much less. The next flush waits at least MIN_FLUSH_GAP_MS, and as long as this one took, so
    // that writing never takes more than about half the time; events meanwhile join the next write.
    this.flushGapMs = Math.min(MAX_FLUSH_GAP_MS, Math.max(MIN_FLUSH_GAP_MS, this.lastFlushEnd - started));
  }

  /** Each filtered subscriber gets the turn's frames that match its filter, if any: the frames themselves. */
  private writeFiltered(pending: BroadcastEvent[], now: number): void {
    // The filters this turn's events can match: those of their session ids and those of their event names.
    const candidates = new Set<FilterGroup>();
    const addGroups = (index: Map<string, Set<FilterGroup>>, value: string | undefined) => {
      const groups = value === undefined ? undefined : index.get(value);
      if (groups) for (const group of groups) candidates.add(group);
    };
    for (const event of pending) {
      addGroups(this.groupsBySession, event.sessionId);
      addGroups(this.groupsByEventName, event.eventName);
    }
    const held = new Map<BroadcastEvent, HeldBuffer>();
    let delivered = 0;
    for (const { filter, members } of candidates) {
      const frames: Buffer[] = [];
      const holds: HeldBuffer[] = [];
      for (const event of pending) {
        if (!matchesFilter(filter, event)) continue;
        frames.push(event.frame);
        let hold = held.get(event);
        if (!hold) held.set(event, (hold = this.unsent.hold(event.frame)));
        holds.push(hold);
      }
      if (!frames.length) continue;
      // A member cut off meanwhile leaves the set: a Set's iteration skips it.
      for (const subscriber of members) if (this.send(subscriber, frames, holds, now)) delivered += frames.length;
    }
    if (delivered > 0) this.metrics.framesDelivered.inc(delivered);
  }

  /**
   * Writes to one subscriber, now rather than on the next tick as Node would (so that a flush takes as long as its
   * writes: see flush()), its frames as one HTTP chunk, each counted in UnsentBytes until its socket is done with it
   * (`holds[i]` for `frames[i]`; none for keep-alives); false when the subscriber is gone or was cut off for not
   * keeping up.
   */
  private send(
    subscriber: Subscriber,
    frames: readonly Buffer[],
    holds: readonly HeldBuffer[] | undefined,
    now: number,
  ): boolean {
    const { res } = subscriber;
    // Node drops a write to a destroyed socket without calling its callback: the 'close' event is on its way.
    if (res.destroyed || res.socket?.destroyed !== false) return false;
    subscriber.lastWriteAt = now;
    res.cork();
    for (let i = 0; i < frames.length; i++) {
      const held = holds?.[i];
      if (held) {
        held.take();
        res.write(frames[i], held.release);
      } else {
        res.write(frames[i]);
      }
    }
    res.uncork();
    const unsent = res.writableLength;
    if (unsent <= this.config.sseMaxBufferBytes) {
      subscriber.backlogSince = 0;
      return true;
    }
    if (!this.fallenBehind(subscriber, unsent, now)) return true;
    this.cutOff(subscriber);
    return false;
  }

  /** After a flush or a keep-alive round: enforceBudget() once this turn's writes are counted. */
  private checkBudget(): void {
    if (this.unsent.total <= this.config.sseBufferBudgetBytes || this.budgetCheckScheduled) return;
    this.budgetCheckScheduled = true;
    setImmediate(() => {
      this.budgetCheckScheduled = false;
      this.enforceBudget();
    });
  }

  /**
   * Past SSE_BUFFER_BUDGET_BYTES of unsent bytes in the whole process, cuts off the subscribers with the largest
   * backlogs first, until the backlogs cut add up to the excess; a subscriber that keeps up (less than
   * KEEPING_UP_BYTES pending) is never cut. A frame that others still wait for stays held: the next check goes on.
   */
  private enforceBudget(): void {
    let excess = this.unsent.total - this.config.sseBufferBudgetBytes;
    if (excess <= 0) return;
    const backlogs: Array<[Subscriber, number]> = [];
    for (const set of [this.subscribers, this.filtered]) {
      for (const subscriber of set) {
        const unsent = subscriber.res.writableLength;
        if (unsent > KEEPING_UP_BYTES) backlogs.push([subscriber, unsent]);
      }
    }
    backlogs.sort((a, b) => b[1] - a[1]);
    const hint = `the process's unsent bytes passed SSE_BUFFER_BUDGET_BYTES=${this.config.sseBufferBudgetBytes}: the largest backlogs are cut off first`;
    for (const [subscriber, unsent] of backlogs) {
      if (excess <= 0) break;
      this.cutOff(subscriber, hint);
      excess -= unsent;
    }
  }

  /**
   * Whether a backlog above SSE_MAX_BUFFER_BYTES is a sustained one: past the memory bound, or not smaller than it
   * was a slow-reader window (10 s) before. A burst (events of MAX_EVENT_BYTES arriving together) passes the
   * threshold for a moment; a reader that keeps up on average works it off, and its backlog shrinks from window to
   * window.
   */
  private fallenBehind(subscriber: Subscriber, unsent: number, now: number): boolean {
    if (unsent > this.maxBacklogBytes) return true;
    if (subscriber.backlogSince === 0) {
      subscriber.backlogSince = now;
      subscriber.backlogBytes = unsent;
      return false;
    }
    if (now - subscriber.backlogSince < this.timings.slowReaderWindowMs) return false;
    if (unsent >= subscriber.backlogBytes) return true;
    subscriber.backlogSince = now;
    subscriber.backlogBytes = unsent;
    return false;
  }

  private cutOff(subscriber: Subscriber, hint = this.slowHint): void {
    this.remove(subscriber);
    this.disconnected(subscriber, 'slow', hint);
    subscriber.res.destroy();
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
      if (subscriber.lastWriteAt > due) continue;
      this.send(subscriber, KEEP_ALIVE, undefined, now);
    }
    this.checkBudget();
  }
}
