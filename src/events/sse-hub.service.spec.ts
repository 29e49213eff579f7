import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { Backplane } from '../backplane/backplane.js';
import { LocalBackplane } from '../backplane/local-backplane.js';
import { AppConfig, loadConfig } from '../config/app-config.js';
import { Timings } from '../config/timings.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventBus } from './event-bus.service.js';
import { MAX_BACKLOG_EVENTS, SseHub } from './sse-hub.service.js';
import { parseStreamFilter } from './stream-filter.js';

/**
 * Records what the hub writes to a response: each entry is one write, or what was written between cork() and
 * uncork() (one HTTP chunk on the wire). `unsent` plays the part of the bytes a reader has not taken.
 */
class RecordingResponse extends EventEmitter {
  readonly req = {
    method: 'GET',
    headers: {},
    socket: { remoteAddress: '127.0.0.1', destroyed: false, setNoDelay() {}, setTimeout() {} },
  };
  readonly socket = this.req.socket;
  status?: number;
  writes: string[] = [];
  unsent = 0;
  destroyed = false;
  ended = false;
  private corked?: string;
  get writableLength(): number {
    return this.unsent;
  }
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  cork(): void {
    this.corked = '';
  }
  uncork(): void {
    this.writes.push(this.corked!);
    this.corked = undefined;
  }
  /**
   * The callback comes on the next tick, as a socket's once the kernel has the bytes; while `holding` (a reader that
   * does not read), not before the response is destroyed.
   */
  holding = false;
  private held: Array<() => void> = [];
  write(chunk: Buffer, callback?: () => void): boolean {
    if (this.corked !== undefined) this.corked += chunk.toString();
    else this.writes.push(chunk.toString());
    if (callback && this.holding) this.held.push(callback);
    else if (callback) process.nextTick(callback);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
    for (const callback of this.held.splice(0)) process.nextTick(callback);
  }
  end(): void {
    this.ended = true;
  }
}

const GREETING = ': connected\n\n';
const frame = (json: string) => ({ frame: Buffer.from(`data: ${json}\n\n`) });
const named = (eventName: string, sessionId: string) => ({
  frame: Buffer.from(`data: {"event_name":"${eventName}","session_id":"${sessionId}"}\n\n`),
  eventName,
  sessionId,
});
/*
 * Time is jest's fake time: the hub's flushes (setImmediate, or setTimeout up to MAX_FLUSH_GAP_MS) and keep-alives
 * (setInterval) run when a test moves the clock, never because a loaded machine was slow.
 */
/** Past the longest pause the hub may take between two flushes (20 ms). */
const flushed = () => jest.advanceTimersByTimeAsync(25);
const elapse = (ms: number) => jest.advanceTimersByTimeAsync(ms);

/** The hub and what it needs, configured from `env`, in Nest's testing module. */
function compileHub(env: Record<string, string>) {
  return Test.createTestingModule({
    providers: [
      EventBus,
      SseHub,
      MetricsService,
      Timings,
      { provide: Backplane, useClass: LocalBackplane },
      { provide: AppConfig, useValue: loadConfig(env) },
    ],
  }).compile();
}

const SLOW_READER_WINDOW_MS = new Timings().slowReaderWindowMs;

describe('SseHub', () => {
  let hub: SseHub;
  let bus: EventBus;

  /**
   * A hub with a 2 KiB buffer limit; its heartbeat is long (a minute) unless a test is about the heartbeat.
   * MAX_EVENT_BYTES 64: the memory bound (32 events of it) is the buffer limit itself, a cut-off comes at once.
   */
  async function startHub(env: Record<string, string> = {}): Promise<void> {
    hub?.onModuleDestroy();
    const moduleRef = await compileHub({
      SSE_MAX_BUFFER_BYTES: '2048',
      SSE_HEARTBEAT_MS: '60000',
      MAX_EVENT_BYTES: '64',
      ...env,
    });
    await moduleRef.init();
    hub = moduleRef.get(SseHub);
    bus = moduleRef.get(EventBus);
  }

  beforeEach(async () => {
    jest.useFakeTimers();
    await startHub();
  });

  afterEach(() => {
    hub.onModuleDestroy();
    jest.useRealTimers();
  });

  /** A subscriber's response, its greeting already taken off the writes. */
  function attach(query?: Record<string, string>, on = hub): RecordingResponse {
    const res = new RecordingResponse();
    on.subscribe(res.req as unknown as IncomingMessage, res as unknown as ServerResponse, parseStreamFilter(query));
    expect(res.writes.shift()).toBe(GREETING);
    return res;
  }

  it('sends the headers and a greeting at once; HEAD gets the headers only', () => {
    const res = new RecordingResponse();
    hub.subscribe(res.req as unknown as IncomingMessage, res as unknown as ServerResponse);
    expect([res.status, res.writes]).toEqual([200, [GREETING]]);
    const head = new RecordingResponse();
    head.req.method = 'HEAD';
    hub.subscribe(head.req as unknown as IncomingMessage, head as unknown as ServerResponse);
    expect([head.status, head.writes, head.ended, hub.size]).toEqual([200, [], true, 1]);
  });

  it('joins the events of one turn into one write per subscriber, in order', async () => {
    const a = attach();
    const b = attach();
    bus.publish(frame('{"n":1}'));
    bus.publish(frame('{"n":2}'));
    bus.publish(frame('{"n":3}'));
    await flushed();
    for (const res of [a, b]) expect(res.writes).toEqual(['data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\n']);
    bus.publish(frame('{"n":4}'));
    await flushed();
    expect(a.writes).toHaveLength(2);
  });

  it('cuts off a subscriber whose unsent bytes pass the memory bound at once, and only that one', async () => {
    const slow = attach();
    const fine = attach();
    slow.unsent = 4096;
    bus.publish(frame('{"n":1}'));
    await flushed();
    expect(slow.destroyed).toBe(true);
    expect(fine.destroyed).toBe(false);
    expect(hub.stats()).toMatchObject({ subscribers: 1, disconnected: { slow: 1 } });
    bus.publish(frame('{"n":2}'));
    await flushed();
    expect(slow.writes).toHaveLength(1);
    expect(fine.writes).toHaveLength(2);
  });

  it('counts a client that leaves, and writes nothing more to it', async () => {
    const res = attach();
    res.emit('close');
    bus.publish(frame('{"n":1}'));
    await flushed();
    expect(res.writes).toEqual([]);
    expect(hub.stats()).toMatchObject({ subscribers: 0, disconnected: { client: 1 } });
  });

  it('sends a keep-alive comment once a stream has been silent for SSE_HEARTBEAT_MS', async () => {
    await startHub({ SSE_HEARTBEAT_MS: '40' });
    const res = attach();
    await elapse(30);
    expect(res.writes).toEqual([]);
    await elapse(30);
    expect(res.writes).toEqual([': keep-alive\n\n']);
    bus.publish(frame('{"n":1}'));
    await elapse(30);
    expect(res.writes).toEqual([': keep-alive\n\n', 'data: {"n":1}\n\n']);
    await elapse(30);
    expect(res.writes).toHaveLength(3);
    expect(res.writes[2]).toBe(': keep-alive\n\n');
  });

  it('gives a filtered subscriber the matching frames of the turn in one write, others the whole turn', async () => {
    const all = attach();
    const errors = attach({ event_name: 'ERROR' });
    const errorsToo = attach({ event_name: 'ERROR' });
    const s1 = attach({ session_id: 's1', event_name: 'START,ERROR' });
    const none = attach({ event_name: 'STOP' });
    const events = [named('START', 's1'), named('HEARTBEAT', 's1'), named('ERROR', 's2'), named('ERROR', 's1')];
    for (const e of events) bus.publish(e);
    await flushed();
    const text = (list: typeof events) => list.map((e) => e.frame.toString()).join('');
    expect(all.writes).toEqual([text(events)]);
    expect(errors.writes).toEqual([text([events[2], events[3]])]);
    expect(errorsToo.writes).toEqual(errors.writes);
    expect(s1.writes).toEqual([text([events[0], events[3]])]);
    expect(none.writes).toEqual([]);
    expect(hub.stats()).toMatchObject({ subscribers: 5 });
  });

  it('finds the filters of several sessions, and forgets those whose subscribers left', async () => {
    const both = attach({ session_id: 's1,s2' });
    const s2 = attach({ session_id: 's2' });
    const s2Too = attach({ session_id: 's2' });
    const s2Errors = attach({ session_id: 's2', event_name: 'ERROR' });
    const events = [named('START', 's1'), named('ERROR', 's2'), named('START', 's3')];
    for (const e of events) bus.publish(e);
    await flushed();
    const text = (list: typeof events) => list.map((e) => e.frame.toString()).join('');
    expect(both.writes).toEqual([text([events[0], events[1]])]);
    expect(s2.writes).toEqual([text([events[1]])]);
    expect(s2Too.writes).toEqual(s2.writes);
    expect(s2Errors.writes).toEqual(s2.writes);

    // One subscriber of s2 is cut off and another joins: the others still get its events, the newcomer too.
    s2Too.unsent = 4096;
    bus.publish(named('ERROR', 's2'));
    await flushed();
    expect(s2Too.destroyed).toBe(true);
    const later = attach({ session_id: 's2' });
    for (const res of [both, s2, s2Errors, later]) res.writes = [];
    bus.publish(named('STOP', 's2'));
    bus.publish(named('STOP', 's1'));
    await flushed();
    expect(both.writes).toHaveLength(1);
    expect(s2.writes).toEqual([named('STOP', 's2').frame.toString()]);
    expect(later.writes).toEqual(s2.writes);
    expect(s2Errors.writes).toEqual([]);
    expect(hub.stats()).toMatchObject({ subscribers: 4, disconnected: { slow: 1 } });
  });

  it('keeps a filtered stream alive while others receive broadcasts, and cuts it off when it does not read', async () => {
    await startHub({ SSE_HEARTBEAT_MS: '40' });
    const all = attach();
    const errors = attach({ event_name: 'ERROR' });
    for (let i = 0; i < 6; i++) {
      bus.publish(named('HEARTBEAT', 's'));
      await elapse(20);
    }
    expect(all.writes.filter((w) => w.startsWith('data:'))).toHaveLength(6);
    expect(all.writes.filter((w) => w === ': keep-alive\n\n')).toHaveLength(0);
    expect(errors.writes.filter((w) => w === ': keep-alive\n\n').length).toBeGreaterThanOrEqual(2);
    errors.unsent = 4096;
    bus.publish(named('ERROR', 's'));
    await flushed();
    expect(errors.destroyed).toBe(true);
    expect(hub.stats()).toMatchObject({ subscribers: 1, disconnected: { slow: 1 } });
  });

  it('ends every stream on shutdown', () => {
    const responses = [attach(), attach(), attach({ event_name: 'ERROR' })];
    hub.endAll();
    expect(responses.every((r) => r.ended)).toBe(true);
    expect(hub.stats()).toMatchObject({ subscribers: 0, disconnected: { shutdown: 3 } });
  });

  it('on shutdown, writes the events of this turn before it ends the streams', () => {
    const response = attach();
    bus.publish(frame('{"last":1}'));
    hub.endAll();
    expect(response.writes).toContain('data: {"last":1}\n\n');
    expect(response.ended).toBe(true);
  });

  it('reports full at MAX_SUBSCRIBERS', async () => {
    const moduleRef = await compileHub({ MAX_SUBSCRIBERS: '1' });
    const small = moduleRef.get(SseHub);
    expect(small.isFull).toBe(false);
    attach({}, small);
    expect(small.isFull).toBe(true);
  });

  it('past SSE_BUFFER_BUDGET_BYTES, cuts off the largest backlogs first, never a reader that keeps up', async () => {
    const MiB = 1024 * 1024;
    await startHub({
      SSE_BUFFER_BUDGET_BYTES: String(MiB),
      SSE_MAX_BUFFER_BYTES: String(8 * MiB),
      MAX_EVENT_BYTES: '',
    });
    const reader = attach();
    const [small, large] = [attach(), attach({ event_name: 'BIG' })];
    for (const res of [small, large]) res.holding = true;
    small.unsent = 200 * 1024;
    large.unsent = 700 * 1024;
    const big = (n: number) => ({
      ...named('BIG', 's'),
      frame: Buffer.from(`data: {"n":${n},"p":"${'x'.repeat(300_000)}"}\n\n`),
    });
    bus.publish(big(1));
    bus.publish(big(2));
    await flushed();
    // Both held 1.2 MB (each frame once: the unfiltered share a joined buffer, the filtered one gets the frames
    // themselves), past the budget: the larger backlog was cut off, the other holds the joined buffer only.
    expect([reader.destroyed, small.destroyed, large.destroyed]).toEqual([false, false, true]);
    expect(hub.unsent.total).toBeGreaterThan(600_000);
    expect(hub.unsent.total).toBeLessThan(601_000);
    bus.publish(big(3));
    bus.publish(big(4));
    await flushed();
    expect([reader.destroyed, small.destroyed]).toEqual([false, true]);
    expect(hub.stats()).toMatchObject({ subscribers: 1, disconnected: { slow: 2 } });
    expect(reader.writes).toHaveLength(2);
    expect(hub.unsent.total).toBe(0);
  });

  it('indexes filters on event names, so that events of other names look at none of them', async () => {
    const stops = Array.from({ length: 3 }, () => attach({ event_name: 'STOP' }));
    const errors = attach({ event_name: 'ERROR,START' });
    for (let i = 0; i < 5; i++) bus.publish(named('HEARTBEAT', `s${i}`));
    bus.publish(named('START', 's1'));
    await flushed();
    expect(stops.map((r) => r.writes)).toEqual([[], [], []]);
    expect(errors.writes).toEqual([named('START', 's1').frame.toString()]);
  });

  describe('a burst is not a sustained backlog', () => {
    const limit = 1024 * 1024;
    // Keep-alives every second look at a stream that gets nothing else.
    beforeEach(() => startHub({ SSE_MAX_BUFFER_BYTES: String(limit), SSE_HEARTBEAT_MS: '1000', MAX_EVENT_BYTES: '' }));

    async function broadcast(): Promise<void> {
      bus.publish(frame('{"n":1}'));
      await flushed();
    }

    it('keeps a subscriber whose backlog passes SSE_MAX_BUFFER_BYTES but shrinks from window to window', async () => {
      const res = attach();
      res.unsent = 6 * limit;
      await broadcast();
      for (let left = 6 * limit; left > limit; left -= limit / 2) {
        res.unsent = left;
        await elapse(SLOW_READER_WINDOW_MS / 4);
      }
      res.unsent = 0;
      await broadcast();
      expect(res.destroyed).toBe(false);
      expect(hub.stats().disconnected.slow).toBe(0);
    });

    it('cuts off a subscriber whose backlog has not shrunk for SLOW_READER_WINDOW_MS', async () => {
      const res = attach();
      res.unsent = 2 * limit;
      await broadcast();
      await elapse(SLOW_READER_WINDOW_MS - 1000);
      expect(res.destroyed).toBe(false);
      await elapse(2000);
      expect(res.destroyed).toBe(true);
      expect(hub.stats()).toMatchObject({ subscribers: 0, disconnected: { slow: 1 } });
    });

    it('cuts off at once past MAX_BACKLOG_EVENTS events of MAX_EVENT_BYTES, and forgets a backlog that is gone', async () => {
      const bursty = attach();
      const stuck = attach();
      bursty.unsent = 2 * limit;
      stuck.unsent = MAX_BACKLOG_EVENTS * 256 * 1024 + 1;
      await broadcast();
      expect(stuck.destroyed).toBe(true);
      expect(bursty.destroyed).toBe(false);
      // Back under the threshold, then above again: the window starts anew.
      await elapse(SLOW_READER_WINDOW_MS / 2);
      bursty.unsent = 0;
      await broadcast();
      bursty.unsent = 2 * limit;
      await elapse(SLOW_READER_WINDOW_MS - 1000);
      await broadcast();
      expect(bursty.destroyed).toBe(false);
    });
  });
});
