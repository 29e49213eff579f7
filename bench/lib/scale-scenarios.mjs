// Scenarios about scale: the cost of the Redis backplane on ingest (with and without it, one run), and the memory
// of many subscribers while events flow. Each starts the servers it needs through `startServer(env)`.
import crypto from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { sendEvents } from './load.mjs';
import { startRedis } from './redis.mjs';
import { ingest } from './scenarios.mjs';
import { SseReader } from './sse-reader.mjs';
import { startWaker } from './waker.mjs';
import { CpuMeter, RssSampler, log, median, nowMs, round, rssKb, sleep } from './util.mjs';

const mb = (kb) => (kb == null ? 'n/a' : `${round(kb / 1024, 1)} MB`);
const round1 = (x) => round(x, 1);

/**
 * The same ingest (autocannon, 0 and --ingest-subs subscribers) on a server without a backplane, then on a fresh
 * one with REDIS_URL set to a redis-server started here; rows give each side and the ratio, redis-server's CPU
 * and the commands it served. With --backplane-rounds N, the two sides alternate N times, so that a disturbance of
 * the machine (or a run that its garbage collector makes slow) shows as one round out of line rather than as the
 * result: every round's ratio is given, and their median. The side that goes first alternates too.
 * With --backplane-control, a third side runs after the one with Redis in each round: without Redis again, while a
 * process that does nothing but wake up (bench/lib/waker.mjs) does so as often as redis-server was sent a PUBLISH
 * on that side. What that costs the server is the machine's part of the ratio, which no change to the Redis path
 * can take back.
 */
export async function backplane({ settings, startServer }) {
  const rounds = [];
  const rows = [];
  const redis = await startRedis();
  try {
    for (let n = 1; n <= Math.max(1, settings.backplaneRounds ?? 1); n++) {
      const sides = {};
      // The side that goes first alternates from round to round, so that a drift of the machine during a series
      // (another job starting, the load generator warming up) does not always weigh on the same side.
      const order = n % 2 ? ['without', 'with', 'control'] : ['with', 'control', 'without'];
      for (const side of settings.backplaneControl ? order : order.filter((s) => s !== 'control')) {
        const env = side === 'with' ? { REDIS_URL: redis.url, REDIS_CHANNEL: `bench:${process.pid}` } : {};
        const server = await startServer(env);
        const waker =
          side === 'control' ? await startWaker(sides.with.publish_per_s, 2 * sides.with.wall_s + 60) : null;
        try {
          log(
            `[backplane] round ${n}, ${waker ? `control: no Redis, ${sides.with.publish_per_s} wake-ups/s` : `${side} Redis`}`,
          );
          redis.resetStats();
          const redisCpu0 = redis.cpuSeconds();
          const wakerCpu0 = waker?.cpuSeconds();
          const t0 = nowMs();
          const { result: r } = await ingest({ server, settings });
          const wallS = (nowMs() - t0) / 1000;
          r.wall_s = round1(wallS);
          r.redis_server_cpu_pct = round1((100 * (redis.cpuSeconds() - redisCpu0)) / wallS);
          r.redis_commands = redis.commandStats();
          r.publish_per_s = Math.round((r.redis_commands.publish?.calls ?? 0) / wallS);
          if (waker) r.waker_cpu_pct = round1((100 * (waker.cpuSeconds() - wakerCpu0)) / wallS);
          sides[side] = r;
        } finally {
          await waker?.stop();
          await server.stop();
        }
      }
      rounds.push(sides);
    }
  } finally {
    await redis.stop();
  }
  const result = rounds.length === 1 ? { ...rounds[0] } : { rounds };
  // On a shared machine the server may get less than a core: requests per CPU-second of the server compare the
  // work per request, whatever the CPU it got.
  const perCpu = (p) => (p.server_cpu_pct ? (100 * p.req_per_s) / p.server_cpu_pct : null);
  // Each round's [a, b] of f(phases), for the share of b in a.
  const pairs = (a, b) => (f) => rounds.map((s) => [f(s[a].phases), f(s[b].phases)]);
  const ratios = pairs('without', 'with');
  const shares = (list) => {
    const values = list.filter(([a, b]) => a && b).map(([a, b]) => (100 * b) / a);
    if (!values.length) return 'n/a';
    const each = values.map((v) => `${round1(v)}%`).join(', ');
    return values.length === 1 ? each : `${each} (median ${round1(median(values))}%)`;
  };
  const control = pairs('without', 'control');
  const overControl = pairs('control', 'with');
  for (const phase of Object.keys(rounds[0].without.phases)) {
    const sidesOf = (f) => rounds.map((s) => `${f(s.without.phases[phase])} / ${f(s.with.phases[phase])}`).join(', ');
    rows.push(
      [`${phase} subscribers: req/s without / with Redis`, sidesOf((p) => Math.round(p.req_per_s))],
      [`${phase} subscribers: with Redis, share of without`, shares(ratios((ps) => ps[phase].req_per_s))],
      [`${phase} subscribers: latency p99 without / with`, `${sidesOf((p) => p.latency_ms.p99)} ms`],
    );
    if (settings.backplaneControl) {
      rows.push(
        [
          `${phase} subscribers: control (no Redis, a process waking as often), req/s`,
          rounds.map((s) => Math.round(s.control.phases[phase].req_per_s)).join(', '),
        ],
        [`${phase} subscribers: control, share of without`, shares(control((ps) => ps[phase].req_per_s))],
        [`${phase} subscribers: with Redis, share of control`, shares(overControl((ps) => ps[phase].req_per_s))],
      );
    }
    if (rounds.every((s) => perCpu(s.without.phases[phase]) && perCpu(s.with.phases[phase]))) {
      rows.push([
        `${phase} subscribers: requests per server CPU-second, with Redis share of without`,
        shares(ratios((ps) => perCpu(ps[phase]))),
      ]);
    }
    const delivery = rounds.map((s) => s.with.phases[phase].delivery).filter(Boolean);
    if (delivery.length) {
      rows.push([
        `${phase} subscribers: with Redis, every reader got every 2xx event`,
        delivery.every((d) => d.lossless) ? 'yes' : 'NO',
      ]);
    }
  }
  const publishes = rounds.reduce((sum, s) => sum + (s.with.redis_commands.publish?.calls ?? 0), 0);
  const events = rounds.reduce((sum, s) => sum + Object.values(s.with.phases).reduce((n, p) => n + p.total_2xx, 0), 0);
  result.events_per_publish = publishes ? round1(events / publishes) : null;
  rows.push(
    [
      'with Redis: PUBLISH commands / events accepted',
      `${publishes} / ${events} (${result.events_per_publish ?? 'n/a'} events per message)`,
    ],
    ['with Redis: redis-server CPU', rounds.map((s) => `${s.with.redis_server_cpu_pct}%`).join(', ')],
  );
  if (settings.backplaneControl) {
    rows.push([
      'control: wake-ups per second, waker CPU',
      rounds.map((s) => `${s.with.publish_per_s}/s, ${s.control.waker_cpu_pct}%`).join('; '),
    ]);
  }
  // For the summary of several targets or rounds: the medians over this scenario's own rounds.
  result.metrics = {};
  for (const phase of Object.keys(rounds[0].without.phases)) {
    const of = (side) => round1(median(rounds.map((s) => s[side].phases[phase].req_per_s)));
    const share = median(ratios((ps) => ps[phase].req_per_s).map(([a, b]) => (a && b ? (100 * b) / a : null)));
    Object.assign(result.metrics, {
      [`${phase} subscribers: req/s without Redis`]: of('without'),
      [`${phase} subscribers: req/s with Redis`]: of('with'),
      [`${phase} subscribers: with Redis, % of without`]: round1(share),
    });
  }
  result.main_metrics = Object.keys(result.metrics).filter((k) => k.endsWith('% of without'));
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
    const mib = (kb) => (kb == null ? null : round(kb / 1024, 1));
    result.metrics = {
      'kB per subscriber': round(perSub, 1),
      'RSS peak (MiB)': mib(result.rss_peak_kb),
      'RSS after they left (MiB)': mib(result.rss_after_leave_kb),
      'every subscriber got its session events': result.readers_complete === n,
      'server CPU (%)': result.cpu.server_cpu_pct,
    };
    result.main_metrics = ['RSS peak (MiB)'];
  } finally {
    await pool.call('close').catch(() => {});
    await pool.terminate();
    await server.stop();
  }
  return { result, rows };
}
