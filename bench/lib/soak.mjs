// The soak scenario: production-shaped traffic for --soak-minutes against one server, to see whether its memory
// drifts. About --soak-sessions players play sessions (START, a HEARTBEAT every --soak-heartbeat-s, STOP or now and
// then ERROR), ending and starting continuously; 12 long-lived readers (2 unfiltered, 5 by event_name, 5 by a few
// session ids) are checked for every accepted event that matches their filter, and console-like readers come and
// go. Every 10 s: RSS, cgroup memory, V8 heap and event-loop lag (GET /metrics), CPU, subscribers, disconnects.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { registerStreams } from './load.mjs';
import { newDevice, newSession, playerEvent } from './players.mjs';
import { SseReader } from './sse-reader.mjs';
import { Timers, cpuSeconds, log, median, nowMs, round, rssKb, scrapeMetrics, slope, sleep } from './util.mjs';

const SAMPLE_S = 10;
/** POSTs waiting or in flight past which new events are dropped (and counted): the server does not keep up. */
const MAX_IN_FLIGHT = 2000;
/** Mean session length, in heartbeats (exponentially distributed, one heartbeat at least). */
const SESSION_HEARTBEATS = 10;
const ERROR_SHARE = 0.05;
const EVENT_FILTERS = ['ERROR,STOP', 'START', 'HEARTBEAT', 'START,STOP', 'ERROR'];
const SESSION_READERS = 5;
const FOLLOWED_PER_READER = 3;
/** Sessions the session readers follow, made before the players start: --soak-sessions must leave room for more. */
export const RESERVED_SESSIONS = SESSION_READERS * FOLLOWED_PER_READER;
/** Console-like readers: one every 2 to 6 s, for 5 to 60 s, half of them filtered by event_name. */
const CHURN_EVERY_MS = [2000, 6000];
const CHURN_STAY_MS = [5000, 60_000];
const CHURN_FILTERS = [null, null, 'START', 'ERROR,STOP'];
/** An ended session's order bookkeeping is dropped this long after its last event was accepted. */
const FORGET_AFTER_MS = 30_000;

const between = (min, max) => min + Math.random() * (max - min);
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const mib = (bytes) => (bytes == null ? null : round(bytes / 1048576, 1));

/** Whether an event passes a filter of GET /events (absent parts do not restrict), as the service decides it. */
function matches(filter, name, sessionId) {
  return (
    (!filter.eventNames || filter.eventNames.has(name)) && (!filter.sessionIds || filter.sessionIds.has(sessionId))
  );
}

function queryOf(filter) {
  const parts = [];
  if (filter.eventNames) parts.push(`event_name=${[...filter.eventNames].join(',')}`);
  if (filter.sessionIds) parts.push(`session_id=${[...filter.sessionIds].join(',')}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * A long-lived reader whose stream is checked against the accepted events, in constant memory per event: counts
 * and sums of `bench_seq` of what it should get and of what it got, and per live session the last `bench_n` (a
 * session's events are posted one after the other, so they must arrive in that order).
 */
class CheckedReader {
  constructor(port, filter) {
    this.filter = filter;
    this.label = queryOf(filter) || '(unfiltered)';
    Object.assign(this, { expected: 0, expectedSum: 0, received: 0, receivedSum: 0 });
    Object.assign(this, { foreign: 0, outOfOrder: 0, other: 0 });
    this.lastN = new Map();
    this.sse = new SseReader({ port, path: `/events${queryOf(filter)}`, onEvent: (_r, data) => this.onData(data) });
  }

  onData(data) {
    let e;
    try {
      e = JSON.parse(data);
    } catch {
      this.other++;
      return;
    }
    if (e?.bench_probe !== undefined) {
      this.sse.probeSeen = true;
      return;
    }
    if (typeof e?.bench_seq !== 'number') {
      this.other++;
      return;
    }
    if (!matches(this.filter, e.event_name, e.session_id)) {
      this.foreign++;
      return;
    }
    this.received++;
    this.receivedSum += e.bench_seq;
    const last = this.lastN.get(e.session_id);
    if (last !== undefined && e.bench_n <= last) this.outOfOrder++;
    this.lastN.set(e.session_id, e.bench_n);
  }

  /** An event the server accepted (2xx). */
  accepted(event) {
    if (!matches(this.filter, event.name, event.sessionId)) return;
    this.expected++;
    this.expectedSum += event.seq;
  }

  get complete() {
    return (
      this.received === this.expected &&
      this.receivedSum === this.expectedSum &&
      !this.foreign &&
      !this.outOfOrder &&
      !this.sse.closedByServer
    );
  }

  report() {
    return {
      filter: this.label,
      expected: this.expected,
      received: this.received,
      same_events: this.received === this.expected && this.receivedSum === this.expectedSum,
      not_matching_filter: this.foreign,
      out_of_order: this.outOfOrder,
      other_events: this.other,
      cut_off: this.sse.closedByServer,
      complete: this.complete,
    };
  }
}

/** The players: about `sessions` sessions at a time, each posting its events one after the other. */
class Players {
  constructor({ port, sessions, heartbeatMs, reserved, onAccepted }) {
    Object.assign(this, { port, heartbeatMs, reserved, onAccepted });
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.devices = Array.from({ length: sessions }, (_, i) => ({ ...newDevice(i), queue: Promise.resolve() }));
    this.counts = { posted: 0, ok: 0, non2xx: 0, errors: 0, dropped: 0, statuses: {}, error_kinds: {}, by_name: {} };
    this.counts.bodies = { text_plain: 0, json: 0, gzip: 0 };
    this.seq = 0;
    this.inFlight = 0;
    this.active = 0;
    this.timers = new Timers();
    /** Ended sessions, oldest first: `[id, ended at]`. */
    this.ended = [];
  }

  get stopping() {
    return this.timers.stopped;
  }

  later(ms, fn) {
    this.timers.later(ms, fn);
  }

  start() {
    // Players start spread over the first heartbeat period; the first of them play the reserved sessions.
    this.devices.forEach((device, i) => this.later(Math.random() * this.heartbeatMs, () => this.play(device, i)));
  }

  play(device, i = -1) {
    const reserved = this.reserved[i];
    const session = newSession(device, reserved?.id);
    const mean = SESSION_HEARTBEATS * this.heartbeatMs;
    session.lengthMs = reserved?.whole ? Infinity : Math.max(this.heartbeatMs, -Math.log(1 - Math.random()) * mean);
    device.session = session;
    this.active++;
    this.post(device, 'START');
    this.post(device, 'HEARTBEAT'); // players send a first heartbeat with the START
    const beat = () => {
      if (session.ended) return;
      if (Date.now() - session.startedAt >= session.lengthMs) {
        this.end(device, Math.random() < ERROR_SHARE ? 'ERROR' : 'STOP');
        this.later(between(500, 3000), () => this.play(device)); // a pause between two media
        return;
      }
      this.post(device, 'HEARTBEAT');
      this.later(this.heartbeatMs, beat);
    };
    this.later(this.heartbeatMs, beat);
  }

  end(device, name) {
    const { session } = device;
    if (!session || session.ended) return;
    session.ended = true;
    this.active--;
    this.post(device, name);
    this.ended.push([session.id, Date.now()]);
  }

  post(device, name) {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.counts.dropped++;
      return;
    }
    const event = playerEvent(device.session, name, ++this.seq);
    this.inFlight++;
    this.counts.posted++;
    this.counts.by_name[name] = (this.counts.by_name[name] ?? 0) + 1;
    const kind = event.headers['content-encoding']
      ? 'gzip'
      : event.headers['content-type'].startsWith('text/')
        ? 'text_plain'
        : 'json';
    this.counts.bodies[kind]++;
    device.queue = device.queue.then(() => this.send(event));
  }

  send(event) {
    return new Promise((resolve) => {
      const done = (status, error) => {
        this.inFlight--;
        if (status >= 200 && status < 300) {
          this.counts.ok++;
          this.onAccepted(event);
        } else if (status) {
          this.counts.non2xx++;
          this.counts.statuses[status] = (this.counts.statuses[status] ?? 0) + 1;
        } else {
          this.counts.errors++;
          this.counts.error_kinds[error] = (this.counts.error_kinds[error] ?? 0) + 1;
        }
        resolve();
      };
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: 'POST',
          path: '/api/events',
          agent: this.agent,
          headers: { ...event.headers, 'content-length': Buffer.byteLength(event.body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode));
          res.on('error', (err) => done(0, err.code || err.message));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => done(0, err.code || err.message));
      req.end(event.body);
    });
  }

  /** Sessions ended more than `ms` ago, removed from the list. */
  takeEnded(ms) {
    const before = Date.now() - ms;
    let k = 0;
    while (k < this.ended.length && this.ended[k][1] < before) k++;
    return this.ended.splice(0, k).map(([id]) => id);
  }

  /** No more sessions; every session playing stops, as players do when closed; waits for the POSTs (20 s at most). */
  async stop() {
    this.timers.stop();
    for (const device of this.devices) this.end(device, 'STOP');
    const end = nowMs() + 20_000;
    while (this.inFlight > 0 && nowMs() < end) await sleep(50);
    this.agent.destroy();
  }
}

/** Console-like readers: one connects every few seconds, stays a while, leaves. */
class Churn {
  constructor(port) {
    this.port = port;
    this.open = new Set();
    this.timers = new Timers();
    this.stats = { connected: 0, statuses: {}, errors: 0, events: 0, not_matching_filter: 0, cut_off: 0 };
  }

  later(ms, fn) {
    this.timers.later(ms, fn);
  }

  start() {
    this.later(between(...CHURN_EVERY_MS), () => this.next());
  }

  next() {
    const names = pick(CHURN_FILTERS);
    const wanted = names && new Set(names.split(','));
    const reader = new SseReader({
      port: this.port,
      path: names ? `/events?event_name=${names}` : '/events',
      onEvent: (_r, data) => {
        this.stats.events++;
        if (wanted && !wanted.has(/"event_name":"([^"]*)"/.exec(data)?.[1])) this.stats.not_matching_filter++;
      },
    });
    this.open.add(reader);
    this.stats.connected++;
    reader.connect().catch(() => this.stats.errors++);
    this.later(between(...CHURN_STAY_MS), () => this.leave(reader));
    this.later(between(...CHURN_EVERY_MS), () => this.next());
  }

  leave(reader) {
    if (!this.open.delete(reader)) return;
    const status = reader.status || 'no answer';
    this.stats.statuses[status] = (this.stats.statuses[status] ?? 0) + 1;
    if (reader.closedByServer && reader.status === 200) this.stats.cut_off++;
    reader.destroy();
  }

  stop() {
    this.timers.stop();
    for (const reader of [...this.open]) this.leave(reader);
  }
}

/** One sample of the server: /proc, its cgroup, GET /metrics (what it has of it). */
async function takeSample({ server, t0, last, players, churn }) {
  const now = nowMs();
  const cpu = cpuSeconds(server.pid);
  const m = await scrapeMetrics(server.port);
  const first = (name) => m.get(name)?.[0]?.value ?? null;
  const disconnects = m.get('pillarbox_subscribers_disconnected_total');
  const lag = first('nodejs_eventloop_lag_p99_seconds');
  const stats = server.cgroup?.stats();
  return {
    t_s: round((now - t0) / 1000, 1),
    rss_kb: rssKb(server.pid),
    cgroup_usage_bytes: stats?.memory_usage_bytes ?? null,
    heap_used_bytes: first('nodejs_heap_size_used_bytes'),
    lag_p99_ms: lag == null ? null : round(lag * 1000, 2),
    cpu_pct: cpu == null || last?.cpu == null ? null : round((100 * (cpu - last.cpu)) / ((now - last.at) / 1000), 1),
    events_accepted: first('pillarbox_events_received_total'),
    posted_2xx: players.counts.ok,
    subscribers: first('pillarbox_subscribers'),
    disconnects: disconnects ? Object.fromEntries(disconnects.map((d) => [d.labels.reason, d.value])) : null,
    active_sessions: players.active,
    churn_readers: churn.open.size,
    in_flight: players.inFlight,
    _cpu: { cpu, at: now },
  };
}

function logSample(s, minutes) {
  const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;
  const disc = s.disconnects
    ? Object.entries(s.disconnects)
        .filter(([, v]) => v)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    : 'n/a';
  log(
    `[soak] ${clock(s.t_s)}/${clock(minutes * 60)} RSS ${round(s.rss_kb / 1024, 1)} MiB` +
      (s.cgroup_usage_bytes == null ? '' : `, cgroup ${mib(s.cgroup_usage_bytes)} MiB`) +
      `, heap ${s.heap_used_bytes == null ? 'n/a' : `${mib(s.heap_used_bytes)} MiB`}` +
      `, lag p99 ${s.lag_p99_ms ?? 'n/a'} ms, CPU ${s.cpu_pct ?? 'n/a'}%, 2xx ${s.posted_2xx}` +
      `, subscribers ${s.subscribers ?? 'n/a'}, sessions ${s.active_sessions}, disconnects ${disc}`,
  );
}

/** The figures of the samples after the warm-up. */
function analyse(samples, warmupS) {
  const after = samples.filter((s) => s.t_s >= warmupS && !s.after_traffic);
  const rssMiB = after.map((s) => (s.rss_kb == null ? null : round(s.rss_kb / 1024, 1)));
  const trend = slope(after.filter((s) => s.rss_kb != null).map((s) => [s.t_s / 3600, s.rss_kb / 1024]));
  return {
    warmup_s: warmupS,
    samples_after_warmup: after.length,
    rss_trend_mib_per_h: round(trend, 2),
    rss_mib: stats(rssMiB),
    cgroup_usage_mib: stats(after.map((s) => mib(s.cgroup_usage_bytes))),
    heap_used_mib: stats(after.map((s) => mib(s.heap_used_bytes))),
    lag_p99_ms: stats(after.map((s) => s.lag_p99_ms)),
    cpu_pct: stats(after.map((s) => s.cpu_pct)),
  };
}

function stats(values) {
  const v = values.filter((x) => x != null);
  if (!v.length) return null;
  return {
    min: Math.min(...v),
    median: round(median(v), 2),
    max: Math.max(...v),
    mean: round(v.reduce((a, b) => a + b) / v.length, 2),
  };
}

/**
 * Waits until every reader got what it should, or their counts stop growing for 3 s (30 s at most): the last
 * accepted events are still on their way.
 */
async function drainReaders(readers) {
  const end = nowMs() + 30_000;
  let last = -1;
  let lastChange = nowMs();
  while (nowMs() < end) {
    if (readers.every((r) => r.received >= r.expected || r.sse.closed)) return;
    const received = readers.reduce((n, r) => n + r.received, 0);
    if (received !== last) {
      last = received;
      lastChange = nowMs();
    } else if (nowMs() - lastChange > 3000) {
      return;
    }
    await sleep(100);
  }
}

export async function soak({ server, settings, partial = {} }) {
  const { soakMinutes: minutes, soakHeartbeatS: heartbeatS, soakSessions: sessions } = settings;
  const { port } = server;
  // The session readers follow sessions that do not exist yet: each is open before the first event of its
  // sessions, so what it should get counts from zero. The first session of each list lasts the whole soak (someone
  // watching a live channel), so that every session reader keeps receiving until the end.
  const reserved = [];
  const readers = [new CheckedReader(port, {}), new CheckedReader(port, {})];
  for (const names of EVENT_FILTERS) readers.push(new CheckedReader(port, { eventNames: new Set(names.split(',')) }));
  for (let r = 0; r < SESSION_READERS; r++) {
    const ids = Array.from({ length: FOLLOWED_PER_READER }, (_, k) => {
      const id = randomUUID();
      reserved.push({ id, whole: k === 0 });
      return id;
    });
    readers.push(new CheckedReader(port, { sessionIds: new Set(ids) }));
  }
  const samples = [];
  partial.samples = samples; // in the JSON file even if the run is cut short
  const players = new Players({
    port,
    sessions,
    heartbeatMs: heartbeatS * 1000,
    reserved,
    onAccepted: (event) => {
      for (const r of readers) r.accepted(event);
    },
  });
  const churn = new Churn(port);
  const result = { minutes, heartbeat_s: heartbeatS, sessions, sample_s: SAMPLE_S };
  try {
    log(`[soak] ${readers.length} long-lived readers`);
    await Promise.all(readers.map((r) => r.sse.connect().catch(() => {})));
    const waiting = () => ({
      waiting: readers.filter((r) => !r.sse.closed && !r.sse.status && !r.sse.probeSeen).length,
    });
    const reg = await registerStreams(port, async () => waiting(), { timeoutMs: 30_000 });
    const notOpen = readers.filter((r) => r.sse.closed || r.sse.status !== 200);
    if (!reg.registered || notOpen.length) {
      throw new Error(`soak: ${notOpen.length} of ${readers.length} long-lived readers did not open their stream`);
    }
    log(`[soak] ${minutes} min: ~${sessions} sessions, a HEARTBEAT every ${heartbeatS} s, readers coming and going`);
    const t0 = nowMs();
    players.start();
    churn.start();
    let last = { cpu: null, at: t0 };
    const sample = async () => {
      const s = await takeSample({ server, t0, last, players, churn });
      last = s._cpu;
      delete s._cpu;
      samples.push(s);
      logSample(s, minutes);
      // The order bookkeeping of sessions over for a while: memory bounded by the sessions alive.
      for (const id of players.takeEnded(FORGET_AFTER_MS)) for (const r of readers) r.lastN.delete(id);
    };
    last = { cpu: cpuSeconds(server.pid), at: t0 };
    const endAt = t0 + minutes * 60_000;
    for (let k = 1; nowMs() < endAt && !server.exited(); k++) {
      await sleep(Math.max(0, Math.min(t0 + k * SAMPLE_S * 1000, endAt) - nowMs()));
      await sample();
    }
    if (server.exited()) log(`[soak] the server exited: ${JSON.stringify(server.exited())}`);
    churn.stop();
    await players.stop();
    await drainReaders(readers);
    // After the players stopped (their STOPs at once): in the JSON, not in the figures of the steady state.
    await sample();
    samples.at(-1).after_traffic = true;
    result.duration_s = round((nowMs() - t0) / 1000, 1);
  } finally {
    churn.stop();
    if (!players.stopping) await players.stop();
    for (const r of readers) r.sse.destroy();
  }

  const warmupS = Math.min(0.1 * minutes * 60, 300);
  Object.assign(result, analyse(samples, warmupS));
  result.posts = players.counts;
  result.readers = readers.map((r) => r.report());
  result.readers_complete = readers.every((r) => r.complete);
  result.churn = churn.stats;
  const lastSample = samples.at(-1);
  result.disconnects = lastSample?.disconnects ?? null;
  result.samples = samples;

  const c = players.counts;
  const rows = [
    [
      'traffic',
      `${minutes} min, ~${sessions} sessions, a HEARTBEAT every ${heartbeatS} s: ${c.posted} POSTs ` +
        `(${Object.entries(c.by_name)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}; ${c.bodies.text_plain} text/plain, ${c.bodies.gzip} gzip)`,
    ],
    [
      'POSTs 2xx / non-2xx / errors / dropped by the bench',
      `${c.ok} / ${c.non2xx}${c.non2xx ? ` (${JSON.stringify(c.statuses)})` : ''} / ${c.errors} / ${c.dropped}`,
    ],
    ['events accepted (server metric)', String(lastSample?.events_accepted ?? 'n/a')],
    [
      `RSS after warm-up (${round(warmupS, 0)} s): min / median / max`,
      result.rss_mib ? `${result.rss_mib.min} / ${result.rss_mib.median} / ${result.rss_mib.max} MiB` : 'n/a',
    ],
    [
      'RSS trend after warm-up',
      result.rss_trend_mib_per_h == null ? 'n/a (too few samples)' : `${result.rss_trend_mib_per_h} MiB per hour`,
    ],
  ];
  if (server.cgroup) {
    const u = result.cgroup_usage_mib;
    rows.push(['cgroup memory after warm-up: min / median / max', u ? `${u.min} / ${u.median} / ${u.max} MiB` : 'n/a']);
  }
  const h = result.heap_used_mib;
  const l = result.lag_p99_ms;
  const cpu = result.cpu_pct;
  rows.push(
    ['V8 heap used: min / max', h ? `${h.min} / ${h.max} MiB` : 'n/a (no /metrics)'],
    ['event-loop lag p99: min / median / max', l ? `${l.min} / ${l.median} / ${l.max} ms` : 'n/a (no /metrics)'],
    ['server CPU: mean / max', cpu ? `${cpu.mean}% / ${cpu.max}%` : 'n/a'],
    [
      `long-lived readers complete (${readers.length})`,
      result.readers_complete
        ? 'yes: each got exactly the accepted events of its filter, each session in order'
        : `NO (${readers.filter((r) => r.complete).length} of ${readers.length})`,
    ],
  );
  for (const r of result.readers.filter((x) => !x.complete)) {
    rows.push([
      `  reader ${r.filter.slice(0, 60)}`,
      `${r.received} of ${r.expected}${r.same_events ? '' : ' (not the same events)'}, ${r.not_matching_filter} not ` +
        `matching its filter, ${r.out_of_order} out of order${r.cut_off ? ', cut off by the server' : ''}`,
    ]);
  }
  if (c.errors)
    rows.push(['POSTs with no answer', `${c.errors}: the readers may have got them (counted as not accepted)`]);
  const ch = churn.stats;
  rows.push([
    'console-like readers',
    `${ch.connected} came and went (${Object.entries(ch.statuses)
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ')}), ${ch.events} events, ${ch.not_matching_filter} not matching their filter, ${ch.cut_off} cut off`,
  ]);
  rows.push([
    'disconnects by reason (server)',
    result.disconnects
      ? Object.entries(result.disconnects)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : 'n/a (no /metrics)',
  ]);
  result.metrics = {
    'RSS trend after warm-up (MiB/h)': result.rss_trend_mib_per_h,
    'RSS median after warm-up (MiB)': result.rss_mib?.median ?? null,
    'RSS max after warm-up (MiB)': result.rss_mib?.max ?? null,
    'V8 heap used max (MiB)': h?.max ?? null,
    'event-loop lag p99 max (ms)': l?.max ?? null,
    'server CPU mean (%)': cpu?.mean ?? null,
    'POSTs 2xx': c.ok,
    'long-lived readers complete': result.readers_complete,
  };
  result.main_metrics = ['RSS trend after warm-up (MiB/h)', 'RSS median after warm-up (MiB)'];
  return { result, rows };
}
