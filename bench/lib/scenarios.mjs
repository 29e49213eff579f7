// The scenarios. Each takes `{ server: { port, pid }, settings }` and returns `{ result, rows }`: `result` for the
// JSON file, `rows` ([metric, value]) for the table. `result.metrics` (name -> number or boolean) and
// `result.main_metrics` (names) feed the summary of several targets or rounds (--compare, --rounds).
import http from 'node:http';
import zlib from 'node:zlib';
import autocannon from 'autocannon';
import { delivery, drain, register, sendEvents } from './load.mjs';
import { ReaderPool } from './reader-pool.mjs';
import { SseReader } from './sse-reader.mjs';
import {
  countOf,
  CpuMeter,
  describeCounts,
  eventFactory,
  heartbeat,
  log,
  median,
  nowMs,
  percentiles,
  phaseToken,
  postEvent,
  request,
  round,
  rssKb,
  RssSampler,
  sleep,
} from './util.mjs';

const mb = (kb) => (kb == null ? 'n/a' : `${round(kb / 1024, 1)} MB`);
/** kB as a number of MiB, for the summary (null stays null). */
const mib = (kb) => (kb == null ? null : round(kb / 1024, 1));
const ms = (x) => (x == null ? 'n/a' : `${round(x, 2)} ms`);
const yesNo = (b) => (b ? 'yes' : 'NO');

/** POST throughput with autocannon, with no subscriber and with a few (whose delivery is checked). */
export async function ingest({ server, settings }) {
  const { port, pid } = server;
  const { duration, connections, ingestSubs } = settings;
  const options = (body) => ({
    url: `http://127.0.0.1:${port}/api/events`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
    timeout: 5,
  });
  const run = (body) => autocannon(options(body));
  const pick = (r, cpu) => ({
    req_per_s: round(r.requests.average, 1),
    total_2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    ...cpu,
  });
  const body = JSON.stringify(heartbeat());
  const result = { connections, duration_s: duration, body_bytes: Buffer.byteLength(body), phases: {} };
  const rows = [];
  const addRows = (label, p) => {
    rows.push(
      [`${label}: req/s`, String(Math.round(p.req_per_s))],
      [`${label}: latency p50 / p99`, `${ms(p.latency_ms.p50)} / ${ms(p.latency_ms.p99)}`],
      [`${label}: non-2xx / errors / timeouts`, `${p.non2xx} / ${p.errors} / ${p.timeouts}`],
      [`${label}: server CPU / bench CPU`, `${p.server_cpu_pct ?? 'n/a'}% / ${p.bench_cpu_pct}%`],
    );
  };

  // Warm-up, not measured: the first requests after a start meet cold code paths.
  await autocannon({ ...options(body), duration: 1 });
  log(`[ingest] 0 subscribers: ${connections} connections for ${duration} s, ${result.body_bytes} B bodies`);
  let cpu = new CpuMeter(pid);
  const p0 = pick(await run(body), cpu.read());
  result.phases['0'] = p0;
  addRows('0 subscribers', p0);
  log(`  ${p0.req_per_s} req/s, p99 ${p0.latency_ms.p99} ms`);

  log(`[ingest] ${ingestSubs} subscribers`);
  const pool = new ReaderPool(port, 1);
  try {
    await pool.connect(ingestSubs);
    const reg = await register(port, pool);
    const token = phaseToken('ingest');
    await pool.setPhase(token);
    cpu = new CpuMeter(pid);
    const r = await run(JSON.stringify(heartbeat({ bench_phase: token })));
    const p = pick(r, cpu.read());
    const counts = await drain(pool, r['2xx'] * ingestSubs, { quietMs: 2000, maxMs: 15000 });
    // Requests still in flight when autocannon stops may be delivered without being counted as 2xx.
    p.delivery = delivery(counts, r['2xx']);
    p.readers_registered = reg.probeSeen;
    result.phases[String(ingestSubs)] = p;
    addRows(`${ingestSubs} subscribers`, p);
    rows.push([
      `${ingestSubs} subscribers: every reader got every 2xx event`,
      `${yesNo(p.delivery.lossless)} (worst reader ${p.delivery.min_per_reader}, 2xx counted ${p.delivery.posted})`,
    ]);
    log(`  ${p.req_per_s} req/s, p99 ${p.latency_ms.p99} ms, lossless ${p.delivery.lossless}`);
  } finally {
    await pool.closeAll().catch(() => {});
    await pool.terminate();
  }
  // The numbers of the summary of several targets or rounds (bench.mjs): each phase's, by name.
  result.metrics = {};
  for (const [subs, p] of Object.entries(result.phases)) {
    Object.assign(result.metrics, {
      [`${subs} subscribers: req/s`]: p.req_per_s,
      [`${subs} subscribers: latency p99 (ms)`]: p.latency_ms.p99,
      [`${subs} subscribers: server CPU (%)`]: p.server_cpu_pct,
    });
    if (p.delivery) result.metrics[`${subs} subscribers: every reader got every 2xx event`] = p.delivery.lossless;
  }
  result.main_metrics = Object.keys(result.phases).map((subs) => `${subs} subscribers: req/s`);
  return { result, rows };
}

/** End-to-end latency from the POST to each of `n` readers, at a steady rate. */
export async function fanout({ server, settings }, n) {
  const { port, pid } = server;
  const { fanoutEvents: events, fanoutRate: rate, readerThreads } = settings;
  const result = {
    subscribers: n,
    events,
    rate_per_s: rate,
    warmup_events: Math.min(events, rate),
    reader_threads: readerThreads,
  };
  const rows = [];
  const pool = new ReaderPool(port, readerThreads);
  try {
    log(`[fanout:${n}] connecting ${n} readers`);
    const t0 = nowMs();
    await pool.connect(n, { concurrency: 100 });
    const reg = await register(port, pool, { timeoutMs: 30000 });
    result.readers = {
      open: reg.open,
      registered: reg.probeSeen,
      connect_errors: reg.connectErrors,
      setup_ms: round(nowMs() - t0),
    };
    rows.push(['readers registered', `${reg.probeSeen} of ${n}`]);
    log(`  ${reg.probeSeen}/${n} registered; ${events} events at ${rate}/s`);

    // Warm-up at the same rate, not measured: the first events after a start meet cold code paths.
    const warmup = Math.min(events, rate);
    await sendEvents({ port, count: warmup, rate, concurrency: 64, makeBody: eventFactory('warmup', 600) });
    await sleep(500);

    const token = phaseToken(`fanout${n}`);
    await pool.setPhase(token);
    const makeBody = eventFactory(token, 600);
    result.event_bytes = Buffer.byteLength(makeBody(0));
    const cpu = new CpuMeter(pid);
    const rss = new RssSampler(pid);
    const post = await sendEvents({
      port,
      count: events,
      rate,
      concurrency: 64,
      makeBody,
      maxMs: (events / rate) * 1000 + 30000,
    });
    const counts = await drain(pool, post.ok * reg.open, { quietMs: 3000, maxMs: 30000 });
    result.cpu = cpu.read();
    result.rss_peak_kb = rss.stop();
    result.post = post;
    result.delivery = delivery(counts, post.ok);
    result.e2e_latency_ms = percentiles(await pool.latencies());
    result.readers_closed_by_server = (await pool.summary()).closedByServer;
    const lat = result.e2e_latency_ms;
    rows.push(
      ['end-to-end latency p50 / p99', `${ms(lat.p50)} / ${ms(lat.p99)}`],
      ['end-to-end latency max', ms(lat.max)],
      ['POSTs 2xx of sent (rate reached)', `${post.ok} of ${post.sent} (${Math.round(post.ok_per_s)}/s)`],
      ['POST latency p50 / p99', `${ms(post.post_latency_ms.p50)} / ${ms(post.post_latency_ms.p99)}`],
      [
        'every reader got every event',
        `${yesNo(result.delivery.lossless)} (worst reader ${result.delivery.min_per_reader} of ${post.ok})`,
      ],
      ['server CPU / bench CPU', `${result.cpu.server_cpu_pct ?? 'n/a'}% / ${result.cpu.bench_cpu_pct}%`],
      ['server RSS peak', mb(result.rss_peak_kb)],
    );
    log(`  e2e p50 ${lat.p50} ms p99 ${lat.p99} ms max ${lat.max} ms; lossless ${result.delivery.lossless}`);
    result.metrics = {
      'end-to-end latency p50 (ms)': lat.p50,
      'end-to-end latency p99 (ms)': lat.p99,
      'end-to-end latency max (ms)': lat.max,
      'POST latency p99 (ms)': post.post_latency_ms.p99,
      'every reader got every event': result.delivery.lossless,
      'server CPU (%)': result.cpu.server_cpu_pct,
      'server RSS peak (MiB)': mib(result.rss_peak_kb),
    };
    result.main_metrics = ['end-to-end latency p99 (ms)'];
  } finally {
    await pool.closeAll().catch(() => {});
    await pool.terminate();
  }
  return { result, rows };
}

/** The subscriber count in GET /health, if the server reports one (the service and node-floor do). */
async function reportedSubscribers(port) {
  const res = await request({ port, path: '/health', timeoutMs: 3000 });
  try {
    const body = JSON.parse(res.body);
    const count = body?.info?.subscribers?.count ?? body?.subscribers;
    return typeof count === 'number' ? count : null;
  } catch {
    return null;
  }
}

/**
 * RSS per idle subscriber, 2 s and --idle-settled s after they connected, and RSS once they left, over a few
 * connect/disconnect cycles.
 */
export async function idle({ server, settings }) {
  const { port, pid } = server;
  const { idleSubs: n, idleCycles: cycles, idleSettled: secondReadingS } = settings;
  const afterLeaveMs = 5000;
  await sleep(1000);
  const rss0 = rssKb(pid);
  const result = { subscribers: n, rss_baseline_kb: rss0, cycles: [] };
  const rows = [['server RSS, no subscriber', mb(rss0)]];
  const pool = new ReaderPool(port, 1);
  try {
    for (let c = 1; c <= cycles; c++) {
      log(`[idle] cycle ${c}/${cycles}: ${n} readers`);
      const rssBefore = rssKb(pid);
      const t0 = nowMs();
      await pool.connect(n, { concurrency: 200, timeoutMs: 20000 });
      const reg = await register(port, pool, { timeoutMs: 60000 });
      const setupMs = round(nowMs() - t0);
      await sleep(2000);
      const rssUp = rssKb(pid);
      const reportedUp = await reportedSubscribers(port);
      // The same subscribers, idle for longer: V8 looks for memory to give back only once allocation has slowed down
      // for a few seconds (its memory reducer), so the reading 2 s after they connected may still hold some.
      await sleep(secondReadingS * 1000 - 2000);
      const rssSettled = rssKb(pid);
      await pool.closeAll();
      await sleep(afterLeaveMs);
      const rssDown = rssKb(pid);
      const reportedDown = await reportedSubscribers(port);
      // Per subscriber: against the RSS with no subscriber at the start. The RSS just before a cycle is no better a
      // base: garbage left by the previous cycle may be collected while this one connects.
      const perSub = rss0 && rssUp ? round((rssUp - rss0) / n, 2) : null;
      const perSubSettled = rss0 && rssSettled ? round((rssSettled - rss0) / n, 2) : null;
      result.cycles.push({
        registered: reg.probeSeen,
        connect_errors: reg.connectErrors,
        statuses: reg.statuses,
        setup_ms: setupMs,
        rss_before_kb: rssBefore,
        rss_connected_kb: rssUp,
        kb_per_subscriber: perSub,
        settled_after_s: secondReadingS,
        rss_settled_kb: rssSettled,
        kb_per_subscriber_settled: perSubSettled,
        rss_after_leave_kb: rssDown,
        server_reported_subscribers: { connected: reportedUp, after_leave: reportedDown },
      });
      rows.push(
        [
          `cycle ${c}: ${reg.probeSeen} of ${n} subscribers, RSS`,
          `${mb(rssUp)} (${perSub ?? 'n/a'} kB per subscriber)`,
        ],
        [
          `cycle ${c}: the same, ${secondReadingS} s after they connected`,
          `${mb(rssSettled)} (${perSubSettled ?? 'n/a'} kB per subscriber)`,
        ],
        [
          `cycle ${c}: RSS ${afterLeaveMs / 1000} s after they left`,
          `${mb(rssDown)}${reportedDown == null ? '' : ` (server reports ${reportedDown} subscribers)`}`,
        ],
      );
      log(
        `  ${reg.probeSeen}/${n} registered in ${setupMs} ms; RSS ${mb(rssUp)}, ${perSub} kB/sub; ` +
          `${secondReadingS} s: ${mb(rssSettled)}, ${perSubSettled} kB/sub; after ${mb(rssDown)}`,
      );
    }
    // Still serving: a new reader receives an event.
    await pool.connect(1);
    const check = await register(port, pool, { timeoutMs: 5000 });
    result.serves_after = check.registered && check.probeSeen === 1;
    rows.push(['a new subscriber still receives events', yesNo(result.serves_after)]);
    const lastCycle = result.cycles.at(-1);
    result.metrics = {
      'RSS with no subscriber (MiB)': mib(rss0),
      'kB per subscriber': median(result.cycles.map((c) => c.kb_per_subscriber)),
      [`kB per subscriber, ${secondReadingS} s after`]: median(result.cycles.map((c) => c.kb_per_subscriber_settled)),
      'RSS after they left, last cycle (MiB)': mib(lastCycle?.rss_after_leave_kb),
      'a new subscriber still receives events': result.serves_after,
    };
    result.main_metrics = ['kB per subscriber', `kB per subscriber, ${secondReadingS} s after`];
  } finally {
    await pool.closeAll().catch(() => {});
    await pool.terminate();
  }
  return { result, rows };
}

/**
 * One reader stops reading during a burst of POSTs: the POSTs must all succeed, the other readers lose nothing,
 * memory stays bounded, and the paused reader is cut off.
 */
export async function paused({ server, settings }) {
  const { port, pid } = server;
  const { pausedEvents: events, pausedReaders: others } = settings;
  const rows = [];
  const result = { events, other_readers: others };
  const rss0 = rssKb(pid);
  const pool = new ReaderPool(port, 1);
  let token = null;
  const slow = new SseReader({
    port,
    onEvent: (reader, data) => {
      if (token && data.includes(token)) reader.count++;
      else if (data.includes('"bench_probe"')) reader.probeSeen = true;
    },
  });
  try {
    await pool.connect(others);
    await slow.connect();
    const reg = await register(port, pool, { extra: [slow] });
    result.registered = { others: reg.probeSeen, paused: slow.probeSeen };
    slow.pause();
    token = phaseToken('paused');
    await pool.setPhase(token);
    // 1 KB events: enough bytes to fill the kernel's socket buffers (several MB on loopback) and then the
    // server's own limit.
    const makeBody = eventFactory(token, 1024);
    result.event_bytes = Buffer.byteLength(makeBody(0));
    const rss1 = rssKb(pid);
    log(`[paused] ${others} readers + 1 paused; ${events} POSTs of ${result.event_bytes} B`);
    const cpu = new CpuMeter(pid);
    const rss = new RssSampler(pid, 50);
    const post = await sendEvents({ port, count: events, concurrency: 32, makeBody, stallMs: 5000, maxMs: 120000 });
    const counts = await drain(pool, post.ok * others, { quietMs: 2000, maxMs: 15000 });
    result.cpu = cpu.read();
    const rssPeak = rss.stop();
    const rss2 = rssKb(pid);
    result.post = post;
    result.delivery = delivery(counts, post.ok);
    const health = await request({ port, path: '/health', timeoutMs: 3000 });
    result.health_while_paused = { status: health.status ?? health.error, ms: health.ms };

    // Resumed, the paused reader gets what the kernel buffers held, then the end of the stream if it was cut off.
    const bytesWhilePaused = slow.bytes;
    slow.resume();
    const end = nowMs() + 15000;
    let lastBytes = -1;
    let lastChange = nowMs();
    while (nowMs() < end && !slow.closed) {
      await sleep(100);
      if (slow.bytes !== lastBytes) {
        lastBytes = slow.bytes;
        lastChange = nowMs();
      } else if (nowMs() - lastChange > 2000) break;
    }
    result.paused_reader = {
      cut_off: slow.closedByServer,
      events_received: slow.count,
      bytes_received_after_resume: slow.bytes - bytesWhilePaused,
      close_reason: slow.error ?? (slow.closed ? 'closed' : 'still open'),
    };
    slow.destroy();
    await pool.closeAll();
    await sleep(2000);
    result.rss_kb = {
      before: rss0,
      readers_connected: rss1,
      peak: rssPeak,
      after_burst: rss2,
      after_readers_left: rssKb(pid),
    };

    rows.push(
      ['POSTs 2xx of requested', `${post.ok} of ${events}${post.stalled ? ' (STALLED: no answer for 5 s)' : ''}`],
      [
        'POST non-2xx / errors',
        `${post.non2xx} / ${countOf(post.errors)}${countOf(post.errors) ? ` (${describeCounts(post.errors)})` : ''}`,
      ],
      ['POSTs/s, POST latency p99', `${Math.round(post.ok_per_s)}/s, ${ms(post.post_latency_ms.p99)}`],
      [
        `the ${others} other readers got every event`,
        `${yesNo(result.delivery.lossless)} (worst reader ${result.delivery.min_per_reader} of ${post.ok})`,
      ],
      [
        'paused reader cut off',
        result.paused_reader.cut_off
          ? `yes (it had received ${slow.count} of ${post.ok} events)`
          : `NO (${slow.count} of ${post.ok} events, stream ${result.paused_reader.close_reason})`,
      ],
      ['server RSS before / peak / after burst', `${mb(rss1)} / ${mb(rssPeak)} / ${mb(rss2)}`],
      ['server RSS growth during burst (peak - before)', mb(rssPeak != null && rss1 != null ? rssPeak - rss1 : null)],
      ['server RSS after readers left', mb(result.rss_kb.after_readers_left)],
      ['GET /health while paused', `${result.health_while_paused.status} in ${ms(health.ms)}`],
    );
    log(`  ${post.ok}/${events} 2xx, lossless ${result.delivery.lossless}, cut off ${slow.closedByServer}`);
    result.metrics = {
      'POSTs 2xx': post.ok,
      'POSTs/s': post.ok_per_s,
      'POST latency p99 (ms)': post.post_latency_ms.p99,
      'the other readers got every event': result.delivery.lossless,
      'paused reader cut off': result.paused_reader.cut_off,
      'RSS growth during the burst (MiB)': rssPeak != null && rss1 != null ? mib(rssPeak - rss1) : null,
    };
    result.main_metrics = ['RSS growth during the burst (MiB)'];
  } finally {
    slow.destroy();
    await pool.closeAll().catch(() => {});
    await pool.terminate();
  }
  return { result, rows };
}

/** 50 MiB of one byte, compressed as small as each encoding goes (`br` with its largest window, 16 MiB). */
function bombs() {
  const plain = Buffer.alloc(50 * 1024 * 1024, 'a');
  return {
    gzip: zlib.gzipSync(plain, { level: 9 }),
    deflate: zlib.deflateSync(plain, { level: 9 }),
    br: zlib.brotliCompressSync(plain, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24 },
    }),
  };
}

/**
 * Decompression bombs: for each encoding, 3 rounds of `--bomb-parallel` bombs POSTed at once on fresh connections,
 * while 4 clients POST a normal event every 10 ms each on keep-alive connections; first the same with plain POSTs
 * of 50 KB, the bombs' size, as the reference. The server's RSS before, its peak and 5 s later, the answers, the
 * normal POSTs' latency.
 */
export async function bomb({ server, settings }) {
  const { port, pid } = server;
  const parallel = settings.bombParallel;
  const rounds = 3;
  const result = { parallel, rounds, encodings: {} };
  const rows = [];
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const normal = JSON.stringify(heartbeat());
  const post = (body, headers = {}) =>
    request({
      port,
      method: 'POST',
      path: '/api/events',
      body,
      timeoutMs: 30000,
      headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
    });
  const tally = (answers) => {
    const statuses = {};
    for (const a of answers) statuses[a.status ?? a.error] = (statuses[a.status ?? a.error] ?? 0) + 1;
    return statuses;
  };

  /** 3 rounds of `parallel` POSTs of `body` at once, 4 clients POSTing a normal event every 10 ms meanwhile. */
  const underLoad = async (body, headers) => {
    const rss0 = rssKb(pid);
    const rss = new RssSampler(pid, 20);
    const latencies = [];
    const failures = {};
    let loading = true;
    const normals = Array.from({ length: 4 }, async () => {
      while (loading) {
        const r = await postEvent(port, normal, { agent: keepAlive, timeoutMs: 10000 });
        if (r.status === 204) latencies.push(r.ms);
        else failures[r.status ?? r.error] = (failures[r.status ?? r.error] ?? 0) + 1;
        await sleep(10);
      }
    });
    await sleep(200);
    const answers = [];
    for (let round = 0; round < rounds; round++) {
      answers.push(...(await Promise.all(Array.from({ length: parallel }, () => post(body, headers)))));
      await sleep(300);
    }
    loading = false;
    await Promise.all(normals);
    const peak = rss.stop();
    await sleep(5000);
    const latency = percentiles(latencies);
    const row = {
      body_bytes: body.length,
      answers: tally(answers),
      rss_kb: { before: rss0, peak, after_5s: rssKb(pid) },
      normal_post_ms: latency,
      normal_post_failures: failures,
    };
    const label = headers['content-encoding'] ?? `plain ${Math.round(body.length / 1024)} KB POSTs`;
    rows.push(
      [`${label}: answers`, describeCounts(row.answers)],
      [`${label}: RSS before / peak / 5 s after`, `${mb(rss0)} / ${mb(peak)} / ${mb(row.rss_kb.after_5s)}`],
      [`${label}: RSS growth (peak - before)`, mb(peak != null && rss0 != null ? peak - rss0 : null)],
      [
        `${label}: normal POSTs meanwhile p50 / p99 / max`,
        `${ms(latency.p50)} / ${ms(latency.p99)} / ${ms(latency.max)} (${latency.n} 204, ${countOf(failures)} other)`,
      ],
    );
    log(
      `  ${describeCounts(row.answers)}; RSS ${mb(rss0)} -> ${mb(peak)} -> ${mb(row.rss_kb.after_5s)}; p99 ${ms(latency.p99)}`,
    );
    return row;
  };

  // First, as many plain POSTs of the bombs' size: the server's heap and buffers grow once to hold `parallel`
  // requests at once, bombs or not, and the normal POSTs' latency under that load alone is the reference.
  const plain = Buffer.from(JSON.stringify({ event_name: 'PLAIN', pad: 'x'.repeat(50 * 1024) }));
  log(`[bomb] reference: ${rounds} × ${parallel} plain POSTs of ${plain.length} B`);
  result.reference = await underLoad(plain, {});
  for (const [encoding, body] of Object.entries(bombs())) {
    log(`[bomb] ${rounds} × ${parallel} × ${encoding} (${body.length} B each, 50 MiB decoded)`);
    result.encodings[encoding] = await underLoad(body, { 'content-encoding': encoding });
  }
  keepAlive.destroy();
  result.metrics = {};
  for (const [label, row] of [['plain', result.reference], ...Object.entries(result.encodings)]) {
    const { before, peak } = row.rss_kb;
    result.metrics[`${label}: RSS growth (MiB)`] = before != null && peak != null ? mib(peak - before) : null;
    result.metrics[`${label}: normal POSTs p99 (ms)`] = row.normal_post_ms.p99;
  }
  result.main_metrics = Object.keys(result.encodings).map((e) => `${e}: RSS growth (MiB)`);
  return { result, rows };
}
