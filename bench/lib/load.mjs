// Load generation and delivery bookkeeping shared by the scenarios. Every loop is bounded in count and time.
import http from 'node:http';
import { nowMs, percentiles, postEvent, round, sleep } from './util.mjs';

/**
 * Sends `count` POSTs to /api/events: paced at `rate` per second (0: as fast as `concurrency` allows), at most
 * `concurrency` in flight over keep-alive connections. Stops early when no POST completes for `stallMs` (the
 * server is blocked) or after `maxMs`.
 */
export async function sendEvents({
  port,
  count,
  rate = 0,
  concurrency = 32,
  makeBody,
  stallMs = 10000,
  maxMs = 120000,
  timeoutMs = 10000,
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const statuses = {};
  const errors = {};
  let sent = 0;
  let ok = 0;
  let inflight = 0;
  let lastDoneAt = nowMs();
  let stalled = false;
  let maxLagMs = 0;
  let wake = null;
  const t0 = nowMs();

  const one = async (seq) => {
    inflight++;
    const res = await postEvent(port, makeBody(seq), { agent, timeoutMs });
    inflight--;
    if (res.status) {
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      lastDoneAt = nowMs();
    } else {
      errors[res.error] = (errors[res.error] ?? 0) + 1;
    }
    if (res.status >= 200 && res.status < 300) {
      ok++;
      latencies.push(res.ms);
    }
    wake?.();
  };

  const interval = rate > 0 ? 1000 / rate : 0;
  while (sent < count) {
    const now = nowMs();
    if (now - t0 > maxMs) break;
    if (inflight > 0 && now - lastDoneAt > stallMs) {
      stalled = true;
      break;
    }
    if (inflight >= concurrency) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 200);
        wake = () => {
          wake = null;
          clearTimeout(timer);
          resolve();
        };
      });
      continue;
    }
    if (interval) {
      const due = t0 + sent * interval;
      if (due > now + 0.5) {
        await sleep(Math.max(1, due - now - 0.5));
        continue;
      }
      maxLagMs = Math.max(maxLagMs, now - due);
    }
    void one(sent++);
    if (!interval && sent % 64 === 0) await new Promise((resolve) => setImmediate(resolve)); // let answers in
  }
  const sendS = (nowMs() - t0) / 1000;
  const waitEnd = nowMs() + (stalled ? 1000 : timeoutMs + 1000);
  while (inflight > 0 && nowMs() < waitEnd) await sleep(20);
  agent.destroy();
  const non2xx = Object.entries(statuses).reduce((sum, [s, n]) => sum + (s >= 200 && s < 300 ? 0 : n), 0);
  return {
    requested: count,
    sent,
    ok,
    non2xx,
    statuses,
    errors,
    unanswered: inflight,
    stalled,
    send_s: round(sendS),
    ok_per_s: round(ok / Math.max(sendS, 0.001), 1),
    max_send_lag_ms: interval ? round(maxLagMs) : undefined,
    post_latency_ms: percentiles(latencies),
  };
}

/**
 * Makes sure every open reader is registered with the server: POSTs probe events until each of them (and each of
 * `extra`, readers of the main thread) has received one.
 */
export async function register(port, pool, { extra = [], timeoutMs = 30000 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = nowMs() + timeoutMs;
  const allSeen = (s) => s.probeSeen >= s.open && extra.every((r) => r.probeSeen || r.closed);
  let probes = 0;
  let summary = await pool.summary();
  try {
    while (nowMs() < end) {
      await postEvent(port, { event_name: 'PROBE', bench_probe: probes++ }, { agent });
      const waitEnd = Math.min(end, nowMs() + 2000);
      do {
        await sleep(50);
        summary = await pool.summary();
        if (allSeen(summary)) return { ...summary, probes, registered: true };
      } while (nowMs() < waitEnd);
    }
  } finally {
    agent.destroy();
  }
  return { ...summary, probes, registered: false };
}

/**
 * Waits until every open reader's stream is open: its headers arrived (the service sends them once the subscriber
 * is registered, filtered or not) or, from a server that holds its headers until the first event (the Go
 * original), a probe event arrived. Meanwhile POSTs a probe event every second. `summary()` resolves
 * `{ waiting }`: the readers still waiting (ReaderPool.summary, or the same of readers of the main thread).
 */
export async function registerStreams(port, summary, { timeoutMs = 30000 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = nowMs() + timeoutMs;
  let probes = 0;
  let s = await summary();
  try {
    while (s.waiting > 0 && nowMs() < end) {
      await postEvent(port, { event_name: 'PROBE', bench_probe: probes++ }, { agent });
      const waitEnd = Math.min(end, nowMs() + 1000);
      do {
        await sleep(50);
        s = await summary();
      } while (s.waiting > 0 && nowMs() < waitEnd);
    }
  } finally {
    agent.destroy();
  }
  return { ...s, probes, registered: s.waiting === 0 };
}

/** Waits until the readers received `target` phase events in total, or until the count stops growing. */
export async function drain(pool, target, { quietMs = 2000, maxMs = 20000 } = {}) {
  const end = nowMs() + maxMs;
  let last = -1;
  let lastChange = nowMs();
  let counts = await pool.counts();
  while (nowMs() < end) {
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum >= target) break;
    if (sum !== last) {
      last = sum;
      lastChange = nowMs();
    } else if (nowMs() - lastChange > quietMs) {
      break;
    }
    await sleep(100);
    counts = await pool.counts();
  }
  return counts;
}

/** How many of `posted` events each reader got. Lossless: every reader got every event. */
export function delivery(counts, posted) {
  if (!counts.length) return { readers: 0 };
  const min = Math.min(...counts);
  return {
    readers: counts.length,
    posted,
    min_per_reader: min,
    max_per_reader: Math.max(...counts),
    readers_complete: counts.filter((c) => c >= posted).length,
    lossless: min >= posted,
  };
}
