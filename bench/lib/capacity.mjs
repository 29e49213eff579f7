// The capacity scenario: what one ECS-sized task (a cgroup: --cgroup, 0.25 CPU and 512 MiB by default) sustains.
// Part A, ingest: the highest rate of 600 B HEARTBEATs (open loop, 20 keep-alive connections) that a step of
// --capacity-step-seconds sustains, 2 readers receiving every event. Part B, subscribers: how many subscribers, each
// following one session, the task holds while --capacity-rate events/s flow to them.
import { describeLimits } from './cgroup.mjs';
import { drain, register, registerStreams } from './load.mjs';
import { OUTCOME, openLoop } from './open-loop.mjs';
import { ReaderPool } from './reader-pool.mjs';
import {
  countOf,
  CpuMeter,
  describeCounts,
  eventFactory,
  log,
  nowMs,
  percentiles,
  phaseToken,
  request,
  round,
  rssKb,
  sessionEventFactory,
  sleep,
} from './util.mjs';

export const DEFAULT_CAPACITY_CGROUP = { cpuMs: 25, memoryMiB: 512 };
const START_RATE = 500;
/** Steps of the ingest search at most: doubling from 500/s, then bisecting to within 5 %. */
const MAX_INGEST_STEPS = 12;
const WITHIN = 0.05;
const CONNECTIONS = 20;
const INGEST_READERS = 2;
/** The share of the target rate that must be answered 2xx for a step to hold. */
const ANSWERED = 0.98;
const FIRST_SUBS_STEP = 250;

const mibNumber = (bytes) => (bytes == null ? null : round(bytes / 1048576, 1));
const mib = (bytes) => (bytes == null ? 'n/a' : `${mibNumber(bytes)} MiB`);
const ms = (x) => (x == null ? 'n/a' : `${round(x, 1)} ms`);

/** The number fields of a POST result, without the per-request outcomes. */
function postSummary(post) {
  const { outcomes: _outcomes, ...rest } = post;
  return rest;
}

/** Why a step of the ingest search did not hold (empty: it held). */
function ingestFailures(step, p99Ms) {
  const { post } = step;
  const reasons = [];
  if (step.server_exited) reasons.push(`the server died${step.oom_killed ? ' (OOM-killed)' : ''}`);
  if (post.ok < ANSWERED * post.scheduled) {
    reasons.push(
      `${round((100 * post.ok) / post.scheduled, 1)}% of ${post.scheduled} answered 2xx` +
        (post.missed ? ` (${post.missed} not sent within ${p99Ms} ms: all ${CONNECTIONS} connections busy)` : ''),
    );
  }
  if (post.non2xx) reasons.push(`non-2xx: ${describeCounts(post.statuses)}`);
  if (countOf(post.errors)) reasons.push(`errors: ${describeCounts(post.errors)}`);
  if (post.post_latency_ms.p99 > p99Ms) reasons.push(`POST p99 ${ms(post.post_latency_ms.p99)} > ${p99Ms} ms`);
  if (step.readers_open < INGEST_READERS) reasons.push(`${INGEST_READERS - step.readers_open} reader(s) cut off`);
  if (step.reader_min < post.ok) reasons.push(`a reader got ${step.reader_min} of ${post.ok} 2xx events`);
  return reasons;
}

/** One step of the ingest search: `rate` events/s for `seconds`, then the readers' counts. */
async function ingestStep({ server, pool, rate, seconds, p99Ms }) {
  const phase = phaseToken('capacity-ingest');
  await pool.setPhase(phase);
  const cpu = new CpuMeter(server.pid);
  // A request that waited for a connection longer than the latency limit would fail the step anyway. Not less:
  // a CPU quota stops the server for most of each 100 ms period (75 ms at 0.25 CPU), and requests pile up meanwhile.
  const post = await openLoop({
    port: server.port,
    rate,
    seconds,
    connections: CONNECTIONS,
    graceMs: p99Ms,
    makeBody: eventFactory(phase, 600),
  });
  const cpuRead = cpu.read();
  const counts = await drain(pool, post.ok * INGEST_READERS, { quietMs: 1000, maxMs: 10_000 });
  const summary = await pool.summary();
  const step = {
    rate,
    post: postSummary(post),
    e2e_latency_ms: percentiles(await pool.latencies()),
    server_cpu_pct: cpuRead.server_cpu_pct,
    bench_cpu_pct: cpuRead.bench_cpu_pct,
    reader_min: counts.length ? Math.min(...counts) : 0,
    readers_open: summary.open,
    server_exited: server.exited() !== null,
    oom_killed: server.oomKilled(),
    cgroup_memory_bytes: server.cgroup?.stats()?.memory_usage_bytes ?? null,
  };
  step.reasons = ingestFailures(step, p99Ms);
  step.held = step.reasons.length === 0;
  return step;
}

/**
 * Part A: from 500/s, doubles the rate until a step fails, then bisects between the best rate that held and the
 * lowest that failed until they are within 5 % (at most 12 steps). A server that died in a step is replaced.
 */
async function ingestPart({ settings, start }) {
  const { capacityStepSeconds: seconds, capacityP99Ms: p99Ms } = settings;
  let server = null;
  let pool = null;
  const servers = [];
  const open = async () => {
    server = await start();
    servers.push(server);
    pool = new ReaderPool(server.port, 1);
    await pool.connect(INGEST_READERS);
    const reg = await register(server.port, pool, { timeoutMs: 30_000 });
    if (!reg.registered) throw new Error(`capacity: ${reg.probeSeen} of ${INGEST_READERS} readers registered`);
    await warmUp(server.port, settings);
  };
  const close = async () => {
    await pool?.closeAll().catch(() => {});
    await pool?.terminate();
    pool = null;
    await server?.stop();
  };
  const steps = [];
  let best = null;
  let failed = null;
  try {
    await open();
    let rate = START_RATE;
    for (let i = 0; i < MAX_INGEST_STEPS; i++) {
      if (server.exited() || (await pool.summary()).open < INGEST_READERS) {
        log('[capacity] the server or a reader is gone: a fresh server for the next step');
        await close();
        await open();
      }
      log(`[capacity] ingest step ${i + 1}: ${rate} events/s for ${seconds} s`);
      const step = await ingestStep({ server, pool, rate, seconds, p99Ms });
      steps.push(step);
      log(
        `  ${step.held ? 'held' : `failed: ${step.reasons.join('; ')}`} (2xx ${step.post.ok}/${step.post.scheduled}, ` +
          `p99 ${ms(step.post.post_latency_ms.p99)}, server CPU ${step.server_cpu_pct}%)`,
      );
      if (step.held && (!best || rate > best.rate)) best = step;
      if (!step.held && (!failed || rate < failed.rate)) failed = step;
      if (!failed) {
        rate *= 2;
      } else {
        const low = best?.rate ?? 0;
        // Noise can make a rate hold above one that failed: then the search has nothing left between them.
        if (failed.rate <= low * (1 + WITHIN) || failed.rate - low < 2) break;
        rate = Math.round((low + failed.rate) / 2);
      }
      await sleep(2000); // the server's backlog and garbage of the step, before the next
    }
  } finally {
    await close();
  }
  const peaks = servers.map((s) => s.cgroup?.stats()?.memory_peak_bytes).filter((b) => b != null);
  return { steps, best, failed, servers: servers.length, cgroup_peak_bytes: peaks.length ? Math.max(...peaks) : null };
}

/**
 * Traffic before the measured steps, not measured: V8 compiles the hot paths while the first thousands of requests
 * run, and under a 0.25 CPU quota that compiling shares the quota with them.
 */
async function warmUp(port, { capacityWarmupSeconds: seconds }) {
  if (!seconds) return;
  log(`[capacity] warm-up: ${START_RATE} events/s for ${seconds} s`);
  await openLoop({ port, rate: START_RATE, seconds, connections: CONNECTIONS, makeBody: eventFactory('warmup', 600) });
  await sleep(1000);
}

/** The subscriber limit the server reports in GET /health (the service's `info.subscribers.max`), or null. */
async function reportedMax(port) {
  const res = await request({ port, path: '/health', timeoutMs: 3000 });
  try {
    const max = JSON.parse(res.body)?.info?.subscribers?.max;
    return typeof max === 'number' ? max : null;
  } catch {
    return null;
  }
}

/** Waits until the session readers got the `expected` events of their sessions, or their count stops growing. */
async function drainSessions(pool, expected, { quietMs = 2000, maxMs = 20_000 } = {}) {
  const end = nowMs() + maxMs;
  let last = -1;
  let lastChange = nowMs();
  for (;;) {
    const rows = await pool.sessionCounts();
    let missing = 0;
    let received = 0;
    for (const [index, count, status, closed] of rows) {
      received += count;
      if (status === 200 && !closed && count < expected[index]) missing++;
    }
    if (!missing || nowMs() > end) return rows;
    if (received !== last) {
      last = received;
      lastChange = nowMs();
    } else if (nowMs() - lastChange > quietMs) {
      return rows;
    }
    await sleep(100);
  }
}

/** One step of part B: `n` subscribers in all (the ones missing connected), `rate` events/s to them. */
async function subscriberStep({ server, pool, n, connected, prefix, settings }) {
  const { capacityRate: rate, capacityStepSeconds: seconds, capacityP99Ms: p99Ms } = settings;
  const { port, pid } = server;
  log(`[capacity] subscribers step: ${n} (${n - connected} more), ${rate} events/s for ${seconds} s`);
  const t0 = nowMs();
  await pool.connect(n - connected, {
    concurrency: 200,
    timeoutMs: 30_000,
    session: { prefix, first: connected },
  });
  const reg = await registerStreams(port, () => pool.summary(), { timeoutMs: 60_000 });
  const setupMs = nowMs() - t0;
  await sleep(1000);
  const phase = phaseToken('capacity-subs');
  await pool.setPhase(phase);
  const cpu = new CpuMeter(pid);
  const post = await openLoop({
    port,
    rate,
    seconds,
    connections: CONNECTIONS,
    graceMs: p99Ms,
    makeBody: sessionEventFactory(phase, prefix, n),
  });
  const cpuRead = cpu.read();
  // Event i went to session i % n: what each subscriber should have got.
  const expected = new Uint32Array(n);
  for (let i = 0; i < post.outcomes.length; i++) if (post.outcomes[i] === OUTCOME.ok) expected[i % n]++;
  const rows = await drainSessions(pool, expected);
  const summary = await pool.summary();
  let incomplete = 0;
  let listening = 0;
  for (const [index, count, status, closed] of rows) {
    if (status !== 200 || closed) continue;
    listening++;
    if (count < expected[index]) incomplete++;
  }
  const health = await request({ port, path: '/health', timeoutMs: 5000 });
  const stats = server.cgroup?.stats();
  const step = {
    subscribers: n,
    listening,
    statuses: summary.statuses,
    connect_errors: summary.connectErrors,
    connect_error_sample: summary.connectErrorSample,
    registered: reg.registered,
    setup_ms: round(setupMs),
    cut_off: summary.cutOff,
    incomplete,
    foreign_events: summary.foreign,
    post: postSummary(post),
    e2e_latency_ms: percentiles(await pool.latencies()),
    server_cpu_pct: cpuRead.server_cpu_pct,
    bench_cpu_pct: cpuRead.bench_cpu_pct,
    rss_kb: rssKb(pid),
    cgroup_memory_bytes: stats?.memory_usage_bytes ?? null,
    cgroup_peak_bytes: stats?.memory_peak_bytes ?? null,
    health: health.status ?? health.error,
    server_exited: server.exited() !== null,
    oom_killed: server.oomKilled(),
  };
  step.reasons = subscriberFailures(step, { n, p99Ms });
  step.held = step.reasons.length === 0;
  return step;
}

/** Why a step of part B did not hold (empty: it held). */
function subscriberFailures(step, { n, p99Ms }) {
  const reasons = [];
  const refused = step.statuses[503] ?? 0;
  if (step.server_exited) reasons.push(`the server died${step.oom_killed ? ' (OOM-killed)' : ''}`);
  if (refused) reasons.push(`limit reached: ${refused} of ${n} subscribers refused with 503`);
  const others = Object.entries(step.statuses).filter(([s]) => s !== '200' && s !== '503');
  if (others.length) reasons.push(`subscribers answered ${others.map(([s, c]) => `${c}× ${s}`).join(', ')}`);
  if (step.connect_errors) reasons.push(`${step.connect_errors} connections failed (${step.connect_error_sample})`);
  if (!step.registered) reasons.push('not every stream opened within 60 s');
  if (step.cut_off) reasons.push(`${step.cut_off} subscribers cut off by the server`);
  if (step.incomplete) reasons.push(`${step.incomplete} of ${step.listening} subscribers missed events`);
  if (step.e2e_latency_ms.p99 > p99Ms) reasons.push(`end-to-end p99 ${ms(step.e2e_latency_ms.p99)} > ${p99Ms} ms`);
  if (step.post.ok < ANSWERED * step.post.scheduled) {
    reasons.push(`${round((100 * step.post.ok) / step.post.scheduled, 1)}% of the events answered 2xx`);
  }
  if (!step.server_exited && step.health !== 200) reasons.push(`GET /health: ${step.health}`);
  return reasons;
}

/** Steps of subscribers: 250, 500, 1,000, ... doubling, and --capacity-max-subs last. */
export function subscriberSteps(max) {
  const steps = [];
  for (let n = FIRST_SUBS_STEP; n < max; n *= 2) steps.push(n);
  steps.push(max);
  return steps;
}

/** Part B: subscribers added step by step while events flow, until a step does not hold or the last one. */
async function subscriberPart({ settings, start }) {
  const server = await start();
  await warmUp(server.port, settings);
  const pool = new ReaderPool(server.port, Math.max(2, settings.readerThreads));
  const prefix = `${phaseToken('cap')}-`;
  const steps = [];
  let serverMax;
  try {
    serverMax = await reportedMax(server.port);
    let connected = 0;
    for (const n of subscriberSteps(settings.capacityMaxSubs)) {
      const step = await subscriberStep({ server, pool, n, connected, prefix, settings });
      connected = n;
      steps.push(step);
      log(
        `  ${step.held ? 'held' : `failed: ${step.reasons.join('; ')}`} (e2e p99 ${ms(step.e2e_latency_ms.p99)}, ` +
          `cgroup memory ${mib(step.cgroup_memory_bytes)}, server CPU ${step.server_cpu_pct}%)`,
      );
      if (!step.held) break;
    }
  } finally {
    await pool.closeAll().catch(() => {});
    await pool.terminate();
    await server.stop();
  }
  const held = steps.filter((s) => s.held);
  return {
    steps,
    best: held.at(-1) ?? null,
    failed: steps.find((s) => !s.held) ?? null,
    server_max_subscribers: serverMax,
    cgroup_peak_bytes: server.cgroup?.stats()?.memory_peak_bytes ?? null,
  };
}

/**
 * Both parts, each on a fresh server in a cgroup of --cgroup's limits (0.25 CPU, 512 MiB without it). Works with a
 * server that has no /health body, no /metrics and no MAX_SUBSCRIBERS (the Go original): the figures it lacks are
 * left out.
 */
export async function capacity({ settings, startServer }) {
  const limits = settings.cgroup ?? DEFAULT_CAPACITY_CGROUP;
  const start = () => startServer({}, limits);
  const result = {
    cgroup: { cpu_ms: limits.cpuMs, memory_mib: limits.memoryMiB },
    step_seconds: settings.capacityStepSeconds,
    p99_limit_ms: settings.capacityP99Ms,
  };
  const rows = [['task (cgroup)', describeLimits(result.cgroup)]];

  const a = await ingestPart({ settings, start });
  result.ingest = a;
  const steps = (list, key, unit) => list.map((s) => `${s[key]}${unit} ${s.held ? 'ok' : 'NO'}`).join(', ');
  rows.push(['ingest: steps (events/s, held?)', steps(a.steps, 'rate', '')]);
  if (a.best) {
    const b = a.best;
    rows.push(
      [`ingest: highest rate sustained for ${settings.capacityStepSeconds} s`, `${b.rate}/s`],
      [
        'ingest: at that rate, POST latency p50 / p99',
        `${ms(b.post.post_latency_ms.p50)} / ${ms(b.post.post_latency_ms.p99)}`,
      ],
      ['ingest: at that rate, end-to-end latency p99', ms(b.e2e_latency_ms.p99)],
      ['ingest: at that rate, server CPU', `${b.server_cpu_pct ?? 'n/a'}% (the quota: ${limits.cpuMs}%)`],
    );
  } else {
    rows.push([`ingest: highest rate sustained for ${settings.capacityStepSeconds} s`, 'none']);
  }
  if (a.failed) {
    rows.push(['ingest: the lowest rate that failed, why', `${a.failed.rate}/s: ${a.failed.reasons.join('; ')}`]);
  }
  rows.push([
    'ingest: peak cgroup memory',
    `${mib(a.cgroup_peak_bytes)}${a.servers > 1 ? ` (${a.servers} servers: one died, a fresh one went on)` : ''}`,
  ]);

  const b = await subscriberPart({ settings, start });
  result.subscribers = b;
  rows.push(
    [`subscribers (one session each, ${settings.capacityRate} events/s): steps`, steps(b.steps, 'subscribers', '')],
    ['subscribers: the most held', b.best ? String(b.best.subscribers) : 'none'],
  );
  if (b.best) {
    rows.push([
      'subscribers: at that step, e2e p99 / RSS / cgroup memory',
      `${ms(b.best.e2e_latency_ms.p99)} / ${mib(b.best.rss_kb == null ? null : b.best.rss_kb * 1024)} / ${mib(b.best.cgroup_memory_bytes)}`,
    ]);
  }
  if (b.failed) {
    rows.push([`subscribers: ${b.failed.subscribers} failed because`, b.failed.reasons.join('; ')]);
    if (b.failed.foreign_events) {
      rows.push([
        'subscribers: events of other sessions received',
        `${b.failed.foreign_events} (the server ignores ?session_id: every subscriber gets every event)`,
      ]);
    }
  } else {
    rows.push(['subscribers: every step held', `up to --capacity-max-subs ${settings.capacityMaxSubs}`]);
  }
  rows.push(['subscribers: peak cgroup memory', mib(b.cgroup_peak_bytes)]);
  const refusedAt = b.steps.find((s) => s.statuses[503]);
  rows.push([
    "subscribers: the server's limit",
    [
      b.server_max_subscribers == null ? 'none reported' : `MAX_SUBSCRIBERS ${b.server_max_subscribers} (GET /health)`,
      refusedAt ? `503 for ${refusedAt.statuses[503]} of ${refusedAt.subscribers} at that step: limit reached` : '',
    ]
      .filter(Boolean)
      .join('; '),
  ]);
  result.limit_reached = refusedAt ? { subscribers: refusedAt.subscribers, refused: refusedAt.statuses[503] } : null;
  result.metrics = {
    'ingest: sustained events/s': a.best?.rate ?? 0,
    'ingest: POST latency p99 (ms)': a.best?.post.post_latency_ms.p99 ?? null,
    'ingest: e2e latency p99 (ms)': a.best?.e2e_latency_ms.p99 ?? null,
    'ingest: server CPU (%)': a.best?.server_cpu_pct ?? null,
    'subscribers held': b.best?.subscribers ?? 0,
    'subscribers: e2e latency p99 (ms)': b.best?.e2e_latency_ms.p99 ?? null,
    'ingest: peak cgroup memory (MiB)': mibNumber(a.cgroup_peak_bytes),
    'subscribers: peak cgroup memory (MiB)': mibNumber(b.cgroup_peak_bytes),
  };
  result.main_metrics = ['ingest: sustained events/s', 'subscribers held'];
  return { result, rows };
}
