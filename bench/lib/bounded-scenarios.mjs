// Scenarios of clients that push the service's bounds: readers that never read, each with its own filter (memory),
// thousands of filtered streams that match nothing (ingest), one address posting at a high rate limit (CPU).
import net from 'node:net';
import autocannon from 'autocannon';
import { sendEvents } from './load.mjs';
import { SseReader } from './sse-reader.mjs';
import { CpuMeter, RssSampler, heartbeat, log, round, rssKb, scrapeMetrics, sleep } from './util.mjs';

const mb = (kb) => (kb == null ? 'n/a' : `${round(kb / 1024, 1)} MB`);

/** A stream that is opened and never read: its socket is paused at once, so that the server's writes pile up. */
function stuckStream(port, path) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => resolve(socket));
  });
}

/** A metric's sample (the first one matching `labels`), or null. */
function metric(samples, name, labels = {}) {
  const match = samples.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return match ? match.value : null;
}

/**
 * The attack of the bounded-memory issue: --attack-streams readers that never read, each with its own filter
 * (`?event_name=big,x<i>`, all matching the events), one normal reader, then --attack-posts POSTs of
 * --attack-bytes. Peak RSS (sampled every 100 ms), what the normal reader got, the streams cut off, RSS after.
 */
export async function attack({ server, settings }) {
  const { port, pid } = server;
  const { attackStreams: streams, attackPosts: posts, attackBytes: bytes } = settings;
  log(`[attack] ${streams} streams that never read, each its own filter; ${posts} POSTs of ${bytes} B`);
  const rssStart = rssKb(pid);
  const normal = new SseReader({ port, path: '/events' });
  await normal.connect();
  const stuck = [];
  for (let i = 0; i < streams; i++) {
    stuck.push(await stuckStream(port, `/events?event_name=big,x${i}`));
    if (i % 100 === 99) await sleep(10);
  }
  await sleep(1000);
  const rssConnected = rssKb(pid);
  const sampler = new RssSampler(pid, 100);
  const pad = 'p'.repeat(Math.max(0, bytes - 40));
  const post = await sendEvents({
    port,
    count: posts,
    concurrency: 4,
    makeBody: (n) => `{"event_name":"big","n":${n},"pad":"${pad}"}`,
    maxMs: 120_000,
  });
  // The normal reader works its backlog off; the stuck streams are cut off meanwhile, or stay.
  const until = Date.now() + 20_000;
  while (normal.events < post.ok && !normal.closed && Date.now() < until) await sleep(100);
  await sleep(2000);
  const peak = sampler.stop();
  const samples = await scrapeMetrics(port);
  const slow = metric(samples, 'pillarbox_subscribers_disconnected_total', { reason: 'slow' });
  for (const socket of stuck) socket.destroy();
  normal.destroy();
  await sleep(5000);
  const rssAfter = rssKb(pid);
  const alive = server.exited() === null;
  const result = {
    streams,
    posts,
    bytes,
    posts_2xx: post.ok,
    normal_reader_events: normal.events,
    normal_reader_cut: normal.closedByServer,
    slow_disconnects: slow,
    rss_kb: { start: rssStart, connected: rssConnected, peak, after: rssAfter },
    server_alive: alive,
  };
  const rows = [
    ['POSTs 2xx', `${post.ok} of ${posts}`],
    ['normal reader got', `${normal.events} of ${post.ok}${normal.closedByServer ? ' (cut off!)' : ''}`],
    ['streams cut off (slow)', slow == null ? 'n/a' : `${slow} of ${streams}`],
    ['RSS start / connected / peak / 5 s after', [rssStart, rssConnected, peak, rssAfter].map(mb).join(' / ')],
    ['server alive after', alive ? 'yes' : `NO: ${JSON.stringify(server.exited())}`],
  ];
  log(`  peak RSS ${mb(peak)}, normal reader ${normal.events}/${post.ok}, cut off ${slow}`);
  return { result, rows };
}

/** autocannon POSTs of 600-byte heartbeats for `duration` s; req/s and the server's CPU per 2xx. */
async function ingestPhase(port, pid, { duration, connections }) {
  const cpu = new CpuMeter(pid);
  const r = await autocannon({
    url: `http://127.0.0.1:${port}/api/events`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(heartbeat()),
    connections,
    duration,
  });
  const used = cpu.read();
  const cpuUsPerEvent = r['2xx'] ? round(((used.server_cpu_pct / 100) * used.wall_s * 1e6) / r['2xx'], 1) : null;
  return {
    req_per_s: round(r.requests.average, 1),
    total_2xx: r['2xx'],
    non2xx: r.non2xx,
    cpu_us_per_event: cpuUsPerEvent,
  };
}

/**
 * Ingest with no subscriber, then with --filtered-streams streams filtered on event names no event has
 * (`?event_name=NEVER<i>`): what thousands of idle filtered consoles cost the POSTs.
 */
export async function ingestFiltered({ server, settings }) {
  const { port, pid } = server;
  const n = settings.filteredStreams;
  await autocannon({ url: `http://127.0.0.1:${port}/api/events`, method: 'POST', body: '{}', duration: 1 });
  log(`[ingest-filtered] no subscriber`);
  const alone = await ingestPhase(port, pid, settings);
  log(`[ingest-filtered] ${n} streams filtered on event names that never match`);
  const readers = [];
  for (let i = 0; i < n; i++) {
    const reader = new SseReader({ port, path: `/events?event_name=NEVER${i}` });
    readers.push(reader.connect().catch(() => reader));
    if (i % 200 === 199) await sleep(20);
  }
  await Promise.all(readers);
  await sleep(1000);
  const filtered = await ingestPhase(port, pid, settings);
  for (const reader of await Promise.all(readers)) reader.destroy();
  const ratio = round(filtered.req_per_s / alone.req_per_s, 2);
  const rows = [
    ['no subscriber: req/s, CPU per event', `${Math.round(alone.req_per_s)}, ${alone.cpu_us_per_event} µs`],
    [
      `${n} filtered streams: req/s, CPU per event`,
      `${Math.round(filtered.req_per_s)}, ${filtered.cpu_us_per_event} µs`,
    ],
    ['req/s with them / without', `${ratio}`],
  ];
  return { result: { streams: n, alone, filtered, ratio }, rows };
}

/**
 * --limit-posts POSTs from one address (20 connections, as fast as they go) on a server without a rate limit, then
 * on one with RATE_LIMIT_PER_MINUTE far above them: the CPU per event that counting costs, whatever the number of
 * hits in the window.
 */
export async function rateLimit({ settings, startServer }) {
  const sides = {};
  for (const [side, env] of [
    ['without', {}],
    ['with', { RATE_LIMIT_PER_MINUTE: String(100 * settings.limitPosts) }],
  ]) {
    const server = await startServer(env);
    try {
      log(`[rate-limit] ${side} RATE_LIMIT_PER_MINUTE: ${settings.limitPosts} POSTs from one address`);
      const cpu = new CpuMeter(server.pid);
      const r = await autocannon({
        url: `http://127.0.0.1:${server.port}/api/events`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(heartbeat()),
        connections: 20,
        amount: settings.limitPosts,
      });
      const used = cpu.read();
      sides[side] = {
        req_per_s: round(r.requests.average, 1),
        total_2xx: r['2xx'],
        non2xx: r.non2xx,
        cpu_us_per_event: r['2xx'] ? round(((used.server_cpu_pct / 100) * used.wall_s * 1e6) / r['2xx'], 1) : null,
      };
    } finally {
      await server.stop();
    }
  }
  const ratio = round(sides.with.cpu_us_per_event / sides.without.cpu_us_per_event, 2);
  const rows = [
    [
      'without a limit: req/s, CPU per event',
      `${Math.round(sides.without.req_per_s)}, ${sides.without.cpu_us_per_event} µs`,
    ],
    ['with a limit: req/s, CPU per event', `${Math.round(sides.with.req_per_s)}, ${sides.with.cpu_us_per_event} µs`],
    ['2xx with a limit', `${sides.with.total_2xx} of ${settings.limitPosts}`],
    ['CPU per event with / without', `${ratio}`],
  ];
  return { result: { posts: settings.limitPosts, ...sides, ratio }, rows };
}
