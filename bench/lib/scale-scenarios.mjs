// Scenarios about scale: the cost of the Redis backplane on ingest (with and without it, one run), and the memory
// of many subscribers while events flow. Each starts the servers it needs through `startServer(env)`.
import crypto from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { sendEvents } from './load.mjs';
import { startRedis } from './redis.mjs';
import { ingest } from './scenarios.mjs';
import { SseReader } from './sse-reader.mjs';
import { CpuMeter, RssSampler, log, nowMs, round, rssKb, sleep } from './util.mjs';

const mb = (kb) => (kb == null ? 'n/a' : `${round(kb / 1024, 1)} MB`);
const pct = (a, b) => (a && b ? `${round((100 * a) / b, 1)}%` : 'n/a');

/**
 * The same ingest (autocannon, 0 and --ingest-subs subscribers) on a server without a backplane, then on a fresh
 * one with REDIS_URL set to a redis-server started here; rows give each side and the ratio, redis-server's CPU
 * and the commands it served.
 */
export async function backplane({ settings, startServer }) {
  const result = {};
  const rows = [];
  const sides = {};
  const redis = await startRedis();
  try {
    for (const side of ['without', 'with']) {
      const env = side === 'with' ? { REDIS_URL: redis.url, REDIS_CHANNEL: `bench:${process.pid}` } : {};
      const server = await startServer(env);
      try {
        log(`[backplane] ${side} Redis`);
        redis.resetStats();
        const redisCpu0 = redis.cpuSeconds();
        const t0 = nowMs();
        const { result: r } = await ingest({ server, settings });
        const wallS = (nowMs() - t0) / 1000;
        r.redis_server_cpu_pct = round((100 * (redis.cpuSeconds() - redisCpu0)) / wallS, 1);
        r.redis_commands = redis.commandStats();
        sides[side] = r;
      } finally {
        await server.stop();
      }
    }
  } finally {
    await redis.stop();
  }
  result.without = sides.without;
  result.with = sides.with;
  for (const phase of Object.keys(sides.without.phases)) {
    const a = sides.without.phases[phase];
    const b = sides.with.phases[phase];
    rows.push(
      [`${phase} subscribers: req/s without / with Redis`, `${Math.round(a.req_per_s)} / ${Math.round(b.req_per_s)}`],
      [`${phase} subscribers: with Redis, share of without`, pct(b.req_per_s, a.req_per_s)],
      [`${phase} subscribers: latency p99 without / with`, `${a.latency_ms.p99} / ${b.latency_ms.p99} ms`],
    );
    // On a shared machine the server may get less than a core: requests per CPU-second of the server compare the
    // work per request, whatever the CPU it got.
    const perCpu = (p) => (p.server_cpu_pct ? (100 * p.req_per_s) / p.server_cpu_pct : null);
    if (perCpu(a) && perCpu(b)) {
      rows.push([
        `${phase} subscribers: requests per server CPU-second without / with`,
        `${Math.round(perCpu(a))} / ${Math.round(perCpu(b))} (${pct(perCpu(b), perCpu(a))})`,
      ]);
    }
    if (b.delivery) {
      rows.push([
        `${phase} subscribers: with Redis, every reader got every 2xx event`,
        b.delivery.lossless ? 'yes' : 'NO',
      ]);
    }
  }
  const publishes = sides.with.redis_commands.publish?.calls ?? 0;
  const events = Object.values(sides.with.phases).reduce((sum, p) => sum + p.total_2xx, 0);
  result.events_per_publish = publishes ? round(events / publishes, 1) : null;
  rows.push(
    [
      'with Redis: PUBLISH commands / events accepted',
      `${publishes} / ${events} (${result.events_per_publish ?? 'n/a'} events per message)`,
    ],
    ['with Redis: redis-server CPU', `${sides.with.redis_server_cpu_pct}%`],
  );
  return { result, rows };
}

const FLOW_ROLE = 'bench-flow-readers';

/** Worker: `n` readers, each on `/events?session_id=<prefix><i>`; counts the phase's events per reader. */
function flowReaders({ port, n, prefix, offset }) {
  const readers = [];
  let token = null;
  const onEvent = (reader, data) => {
    if (token && data.includes(token)) reader.count++;
  };
  parentPort.on('message', async ({ cmd, arg }) => {
    if (cmd === 'connect') {
      let next = 0;
      let errors = 0;
      const lane = async () => {
        while (next < n) {
          const i = offset + next++;
          const reader = new SseReader({ port, path: `/events?session_id=${prefix}${i}`, onEvent });
          readers.push(reader);
          await reader.connect(20_000).catch(() => errors++);
        }
      };
      await Promise.all(Array.from({ length: 100 }, lane));
      const ok = readers.filter((r) => r.status === 200 && !r.closed).length;
      parentPort.postMessage({ ok, errors });
    } else if (cmd === 'phase') {
      token = arg;
      parentPort.postMessage({});
    } else if (cmd === 'counts') {
      const open = readers.filter((r) => !r.closed).length;
      parentPort.postMessage({ counts: readers.map((r) => r.count), open });
    } else if (cmd === 'close') {
      for (const r of readers) r.destroy();
      parentPort.postMessage({});
    }
  });
}

if (!isMainThread && workerData?.role === FLOW_ROLE) flowReaders(workerData);

class FlowPool {
  constructor(port, n, prefix, threads = 2) {
    const per = Math.ceil(n / threads);
    this.workers = Array.from({ length: threads }, (_, t) => {
      const count = Math.max(0, Math.min(per, n - t * per));
      return new Worker(new URL(import.meta.url), {
        workerData: { role: FLOW_ROLE, port, n: count, prefix, offset: t * per },
      });
    });
  }

  call(cmd, arg) {
    return Promise.all(
      this.workers.map(
        (w) =>
          new Promise((resolve) => {
            w.once('message', resolve);
            w.postMessage({ cmd, arg });
          }),
      ),
    );
  }

  async terminate() {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * --flow-subs subscribers (10,000) stay connected while --flow-rate events/s (1,000) are POSTed for --flow-seconds:
 * each subscriber follows one session (`?session_id=`), and the events go round-robin to those sessions, so every
 * subscriber gets its share and is idle in between. RSS is sampled every 100 ms; the peak, and the RSS once they
 * left, are the figures. Delivery is checked: every subscriber got the events of its session.
 */
export async function idleFlow({ settings, startServer }) {
  const { flowSubs: n, flowRate: rate, flowSeconds: seconds } = settings;
  const server = await startServer({ MAX_SUBSCRIBERS: String(n + 100) });
  const { port, pid } = server;
  const prefix = `flow-${crypto.randomBytes(3).toString('hex')}-`;
  const pool = new FlowPool(port, n, prefix);
  const result = { subscribers: n, rate_per_s: rate, seconds };
  const rows = [];
  try {
    await sleep(1000);
    result.rss_start_kb = rssKb(pid);
    const rss = new RssSampler(pid, 100);
    log(`[idle-flow] connecting ${n} subscribers`);
    const t0 = nowMs();
    const connected = (await pool.call('connect')).reduce((sum, r) => sum + r.ok, 0);
    result.connected = connected;
    result.setup_ms = round(nowMs() - t0);
    await sleep(2000);
    result.rss_connected_kb = rssKb(pid);
    const token = `flow-${crypto.randomBytes(4).toString('hex')}`;
    await pool.call('phase', token);
    const pad = 'x'.repeat(400);
    const makeBody = (seq) =>
      `{"event_name":"HEARTBEAT","session_id":"${prefix}${seq % n}","timestamp":${Date.now()},"version":1,` +
      `"data":{"bench_phase":"${token}","pad":"${pad}"}}`;
    const count = rate * seconds;
    log(`[idle-flow] ${count} events at ${rate}/s to them`);
    const cpu = new CpuMeter(pid);
    const post = await sendEvents({ port, count, rate, concurrency: 32, makeBody, maxMs: seconds * 2000 + 10_000 });
    await sleep(2000);
    result.cpu = cpu.read();
    result.post = { ok: post.ok, sent: post.sent, ok_per_s: post.ok_per_s, p99_ms: post.post_latency_ms.p99 };
    const parts = await pool.call('counts');
    const counts = parts.flatMap((p) => p.counts);
    const expected = (i) => Math.floor(post.ok / n) + (i < post.ok % n ? 1 : 0);
    result.readers_open = parts.reduce((sum, p) => sum + p.open, 0);
    result.readers_complete = counts.filter((c, i) => c >= expected(i)).length;
    result.rss_peak_kb = rss.stop();
    await pool.call('close');
    await sleep(5000);
    result.rss_after_leave_kb = rssKb(pid);
    const perSub = (result.rss_connected_kb - result.rss_start_kb) / n;
    rows.push(
      ['RSS at start', mb(result.rss_start_kb)],
      [
        `${connected} of ${n} subscribers connected, RSS`,
        `${mb(result.rss_connected_kb)} (${round(perSub, 1)} kB per subscriber)`,
      ],
      [
        `RSS peak with ${rate} events/s flowing`,
        `${mb(result.rss_peak_kb)} (${round(result.rss_peak_kb / 1024 / 1.048576, 1)} MiB)`,
      ],
      ['RSS 5 s after they left', mb(result.rss_after_leave_kb)],
      [
        'POSTs 2xx of sent (rate reached), p99',
        `${post.ok} of ${post.sent} (${Math.round(post.ok_per_s)}/s), ${post.post_latency_ms.p99} ms`,
      ],
      [
        'every subscriber got its session events',
        `${result.readers_complete === n ? 'yes' : 'NO'} (${result.readers_complete} of ${n}; ${result.readers_open} open)`,
      ],
      ['server CPU / bench CPU', `${result.cpu.server_cpu_pct ?? 'n/a'}% / ${result.cpu.bench_cpu_pct}%`],
    );
  } finally {
    await pool.call('close').catch(() => {});
    await pool.terminate();
    await server.stop();
  }
  return { result, rows };
}
