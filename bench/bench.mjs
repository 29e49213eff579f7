#!/usr/bin/env node
// The project's benchmark: `npm run bench -- --help`. It starts the server itself (a fresh one per scenario),
// only ever talks to 127.0.0.1, bounds every loop, and stops by itself.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../scripts/lib/command-line.mjs';
import * as boundedScenarios from './lib/bounded-scenarios.mjs';
import { capacity } from './lib/capacity.mjs';
import { cost } from './lib/cost.mjs';
import { CgroupError, checkCgroups, describeLimits, parseCgroupOption, removeAllCgroups } from './lib/cgroup.mjs';
import * as scaleScenarios from './lib/scale-scenarios.mjs';
import * as scenarios from './lib/scenarios.mjs';
import { RESERVED_SESSIONS, soak } from './lib/soak.mjs';
import { formatSummary, formatTable, summarize } from './lib/summary.mjs';
import { attachServer, ensureBuilt, startServer } from './lib/target.mjs';
import { log, openFileLimits, request, round } from './lib/util.mjs';

const HELP = `Usage: npm run bench -- [options]

Scenarios (-s, comma-separated; default: ingest,fanout:100,fanout:1000,idle,paused)
  ingest        POST throughput (autocannon, ~600 B HEARTBEAT) with 0 and --ingest-subs subscribers
  fanout:N      end-to-end latency p50/p99 from the POST to N SSE readers at --fanout-rate events/s
                (fanout = fanout:100,fanout:1000)
  idle          RSS per idle subscriber (--idle-subs of them), and RSS after they leave, over --idle-cycles cycles
  paused        one reader stops reading during --paused-events POSTs of 1 KB: every POST 2xx? the other
                readers lossless? RSS growth? the paused reader cut off?
  bomb          3 rounds of --bomb-parallel decompression bombs (50 MiB of one byte) of each encoding (gzip, deflate,
                br with a 16 MiB window) at once: RSS peak and 5 s later, normal POST latency meanwhile (not in the
                default list)
  backplane     the ingest scenario on a server without a backplane, then on one with REDIS_URL set to a
                redis-server started on a free port: both sides, their ratio, PUBLISH count and redis-server CPU;
                --backplane-rounds N alternates the two sides N times and gives every round's ratio and the median
  idle-flow     --flow-subs subscribers (each following one session) while --flow-rate events/s flow to them
                for --flow-seconds: RSS at start, connected, peak (sampled every 100 ms), after they left
  capacity      what one ECS-sized task holds, on servers in a cgroup (--cgroup's limits, 25,512 without it), not
                in the default list. Each server first gets --capacity-warmup-s of 500 events/s, not measured.
                Part A, ingest: 2 readers connected, 600 B HEARTBEATs over 20 keep-alive
                connections at a set rate (open loop: a request that finds all 20 busy for --capacity-p99-ms is not
                sent, and counts against the step); from 500/s, doubled until a step fails, then bisected to within
                5 % (12 steps at most). A step of --capacity-step-seconds holds when 98 % of its requests were
                answered 2xx, none non-2xx or failed, POST p99 <= --capacity-p99-ms (from each request's due time)
                and both readers got every 2xx event. Part B, subscribers: 250, 500, 1,000 ... doubling up to
                --capacity-max-subs, each following one session (?session_id=), while --capacity-rate events/s go
                round-robin to their sessions for a step; a step holds when every subscriber got every event of its
                session, end-to-end p99 <= --capacity-p99-ms, none was refused (503: MAX_SUBSCRIBERS reached) or
                cut off, the server lives and GET /health answers 200. Readers in max(2, --reader-threads) threads
  soak          --soak-minutes of production-shaped traffic on one server (not in the default list): about
                --soak-sessions sessions (START, a HEARTBEAT every --soak-heartbeat-s, STOP or ERROR; ~10 heartbeats
                long, ending and starting continuously), half the bodies text/plain (sendBeacon), a quarter gzip;
                12 long-lived readers (2 unfiltered, 5 by event_name, 5 by 3 session ids) checked to get exactly
                the accepted events of their filter, each session in order; console-like readers coming every 2-6 s
                for 5-60 s. Every 10 s: RSS, cgroup memory, V8 heap and event-loop lag p99 (GET /metrics), CPU,
                subscribers, disconnects by reason. Then the RSS trend (MiB per hour, least squares after a warm-up
                of 10 % of the run, 5 min at most), its min / median / max, the heap and lag ranges
  attack        --attack-streams streams that never read, each with its own filter (?event_name=big,x<i>), one
                normal reader, then --attack-posts POSTs of --attack-bytes: peak RSS (sampled every 100 ms), what
                the normal reader got, the streams cut off, RSS 5 s after they are gone (not in the default list)
  ingest-filtered  ingest with no subscriber, then with --filtered-streams streams filtered on event names no
                event has: what thousands of idle filtered consoles cost the POSTs (not in the default list)
  rate-limit    --limit-posts POSTs from one address on a server without a rate limit, then on one with
                RATE_LIMIT_PER_MINUTE far above them: the CPU per event of counting (not in the default list)
  cost          the server's CPU per event at --cost-rate POSTs/s with 2 readers (open loop, 20 connections),
                after --cost-seconds of warm-up, over --cost-seconds: what decides a CPU-bound task's capacity, and
                steadier than a throughput on a shared machine (not in the default list)
  (backplane, idle-flow, capacity and rate-limit start their own servers: not with --url or --reuse-server)

Target (default: builds if dist/ is missing or older than src/, then runs it as npm start does)
  --target CMD     start CMD under bash instead (it gets PORT), e.g. a reference server doing the same job
  --url URL        measure a server already running on 127.0.0.1 (--pid PID for its RSS and CPU)
  --label NAME     name of the target in the table and the JSON (app; target with --target, url with --url)
  --compare L=CMD  one more target, labelled L, started as CMD under bash with PORT set (like --target); may be
                   given several times. Every scenario runs for every target, with a fresh server each time
  --rounds N       run every scenario for every target N times (1); the target that goes first turns each round
  --cgroup C,M     run every server the benchmark starts in a cgroup v1 of its own: C ms of CPU per 100 ms (the
                   cpu controller's quota) and M MiB of memory (the memory controller's limit), e.g. 25,512 for an
                   ECS task of 0.25 vCPU and 512 MiB. Needs root and the v1 cpu and memory hierarchies; not with
                   --url. Each scenario's table gives the limits, the peak memory, the OOM kills, the CPU throttling
  --skip-build     never run npm run build
  --reuse-server   one server for every scenario (default: a fresh server per scenario, for clean RSS baselines)
  Other environment variables are passed on to the server (e.g. SSE_MAX_BUFFER_BYTES=...). The benchmark's clients
  all come from 127.0.0.1: MAX_SUBSCRIBERS_PER_ADDRESS is set to 1000000 unless the environment sets it.

Output
  A table per run (one target, every scenario) on stdout; with --compare or --rounds, then a summary: each
  target's median over the rounds for every metric, the ratio of the first target to each other, and a line per
  round with the raw values of the main metrics.
  --json FILE      also write every result as JSON: { meta, scenarios } for one target and one round, else
                   { meta, runs, summary } (soak: every sample)

Run length
  --quick                 shorter runs (3 s ingest phases, 400 fanout events, 2,000 idle subscribers x 2 cycles,
                          8,000 paused-reader POSTs)
  --duration S            ingest: seconds per phase (10)       --connections N  ingest: autocannon connections (50)
  --ingest-subs N         ingest: subscribers of phase 2 (10)
  --fanout-events N       fanout: events per run (2000)        --fanout-rate N  fanout: events per second (200)
  --idle-subs N           idle: subscribers (5000)             --idle-cycles N  idle: connect/disconnect cycles (3)
  --idle-settled S        idle: the second reading, S s after they connected (20; at least 3)
  --paused-events N       paused: POSTs (20000)                --paused-readers N  paused: readers that read (10)
  --bomb-parallel N       bomb: bombs at once per encoding (200)
  --backplane-rounds N    backplane: rounds of without / with (1)
  --backplane-control     backplane: a third side per round, without Redis while a process wakes up as often as
                          redis-server was sent a PUBLISH (what the machine costs, see docs/performance.md)
  --reader-threads N      worker threads holding the fanout readers (1)
  --flow-subs N           idle-flow: subscribers (10000)       --flow-rate N    idle-flow: events per second (1000)
  --flow-seconds S        idle-flow: seconds of events (20)
  --capacity-step-seconds S  capacity: seconds per step, both parts (10)
  --capacity-p99-ms MS    capacity: the latency limit of a step (100)
  --capacity-rate N       capacity: events per second of part B (1000)
  --capacity-max-subs N   capacity: the last step of part B (16000)
  --capacity-warmup-s S   capacity: seconds of 500 events/s before the steps, on each server (30; 0 for none)
  --soak-minutes M        soak: minutes of traffic (60; fractions allowed, e.g. 2 or 0.5 for a try)
  --soak-heartbeat-s S    soak: seconds between heartbeats of a session (30; at least 1)
  --soak-sessions N       soak: sessions at a time (2000; at least 20)
  --attack-streams N      attack: streams that never read (1000)  --attack-posts N  attack: POSTs (80)
  --attack-bytes N        attack: bytes per POST (250000)
  --filtered-streams N    ingest-filtered: filtered streams (5000)
  --limit-posts N         rate-limit: POSTs from one address (40000)
  --cost-rate N           cost: POSTs per second (2000)          --cost-seconds S  cost: warm-up and measure (20)
  --max-minutes M         hard limit for the whole run (20, 8 with --quick, per target and round; plus the soak's
                          minutes and 15 for capacity)
`;

const opt = parseCommandLine('bench', HELP, {
  scenarios: { type: 'string', short: 's', default: 'ingest,fanout:100,fanout:1000,idle,paused' },
  quick: { type: 'boolean', default: false },
  target: { type: 'string' },
  url: { type: 'string' },
  pid: { type: 'string' },
  label: { type: 'string' },
  'skip-build': { type: 'boolean', default: false },
  'reuse-server': { type: 'boolean', default: false },
  json: { type: 'string' },
  duration: { type: 'string' },
  connections: { type: 'string' },
  'ingest-subs': { type: 'string' },
  'fanout-events': { type: 'string' },
  'fanout-rate': { type: 'string' },
  'idle-subs': { type: 'string' },
  'idle-cycles': { type: 'string' },
  'idle-settled': { type: 'string' },
  'paused-events': { type: 'string' },
  'paused-readers': { type: 'string' },
  'reader-threads': { type: 'string' },
  'bomb-parallel': { type: 'string' },
  'backplane-rounds': { type: 'string' },
  'backplane-control': { type: 'boolean', default: false },
  'flow-subs': { type: 'string' },
  'flow-rate': { type: 'string' },
  'flow-seconds': { type: 'string' },
  compare: { type: 'string', multiple: true },
  rounds: { type: 'string' },
  cgroup: { type: 'string' },
  'capacity-step-seconds': { type: 'string' },
  'capacity-p99-ms': { type: 'string' },
  'capacity-rate': { type: 'string' },
  'capacity-max-subs': { type: 'string' },
  'capacity-warmup-s': { type: 'string' },
  'soak-minutes': { type: 'string' },
  'soak-heartbeat-s': { type: 'string' },
  'soak-sessions': { type: 'string' },
  'attack-streams': { type: 'string' },
  'attack-posts': { type: 'string' },
  'attack-bytes': { type: 'string' },
  'filtered-streams': { type: 'string' },
  'limit-posts': { type: 'string' },
  'cost-rate': { type: 'string' },
  'cost-seconds': { type: 'string' },
  'max-minutes': { type: 'string' },
});
if (opt.target && opt.url) {
  log('--target and --url exclude each other');
  process.exit(2);
}
if (opt.url && !/^http:\/\/127\.0\.0\.1(:\d+)?\/?$/.test(opt.url)) {
  log('--url must be http://127.0.0.1:PORT: the benchmark only talks to this machine');
  process.exit(2);
}
if (opt.url && (opt.cgroup || opt.compare)) {
  log(`--${opt.cgroup ? 'cgroup' : 'compare'} is about servers the benchmark starts: not with --url`);
  process.exit(2);
}
const cgroup = opt.cgroup === undefined ? null : parseCgroupOption(opt.cgroup);
if (opt.cgroup !== undefined && !cgroup) {
  log('--cgroup must be CPU_MS,MEMORY_MIB (two positive integers), e.g. 25,512 for 0.25 CPU and 512 MiB');
  process.exit(2);
}
const mainLabel = opt.label ?? (opt.target ? 'target' : opt.url ? 'url' : 'app');
/** The targets: the project's build (or --target, --url) first, then each --compare. */
const targets = [{ label: mainLabel, command: opt.target, url: opt.url }];
for (const spec of opt.compare ?? []) {
  const m = /^([\w.-]+)=(.*\S.*)$/s.exec(spec);
  if (!m) {
    log(`--compare ${spec}: must be LABEL=COMMAND, LABEL of letters, digits, _ . -`);
    process.exit(2);
  }
  if (targets.some((t) => t.label === m[1])) {
    log(`--compare ${m[1]}=...: the label ${m[1]} is taken (labels: ${targets.map((t) => t.label).join(', ')})`);
    process.exit(2);
  }
  targets.push({ label: m[1], command: m[2] });
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const defaults = opt.quick
  ? { duration: 3, fanoutEvents: 400, idleSubs: 2000, idleCycles: 2, pausedEvents: 8000, maxMinutes: 8 }
  : { duration: 10, fanoutEvents: 2000, idleSubs: 5000, idleCycles: 3, pausedEvents: 20000, maxMinutes: 20 };
const int = (name, fallback, { min = 1, why = '' } = {}) => {
  if (opt[name] === undefined) return fallback;
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n < min) {
    log(`--${name} must be ${min === 1 ? 'a positive integer' : `at least ${min}${why}`}`);
    process.exit(2);
  }
  return n;
};
/** A number that may have a fraction (minutes, seconds). */
const num = (name, fallback, { min }) => {
  if (opt[name] === undefined) return fallback;
  const n = Number(opt[name]);
  if (!Number.isFinite(n) || n < min) {
    log(`--${name} must be a number of at least ${min}`);
    process.exit(2);
  }
  return n;
};
const settings = {
  duration: int('duration', defaults.duration),
  connections: int('connections', 50),
  ingestSubs: int('ingest-subs', 10),
  fanoutEvents: int('fanout-events', defaults.fanoutEvents),
  fanoutRate: int('fanout-rate', 200),
  idleSubs: int('idle-subs', defaults.idleSubs),
  idleCycles: int('idle-cycles', defaults.idleCycles),
  idleSettled: int('idle-settled', 20, {
    min: 3,
    why: ' (s): the first reading is taken 2 s after the subscribers connected',
  }),
  pausedEvents: int('paused-events', defaults.pausedEvents),
  pausedReaders: int('paused-readers', 10),
  readerThreads: int('reader-threads', 1),
  bombParallel: int('bomb-parallel', 200),
  backplaneRounds: int('backplane-rounds', 1),
  backplaneControl: opt['backplane-control'],
  flowSubs: int('flow-subs', opt.quick ? 2000 : 10_000),
  flowRate: int('flow-rate', 1000),
  flowSeconds: int('flow-seconds', opt.quick ? 5 : 20),
  rounds: int('rounds', 1),
  cgroup,
  capacityStepSeconds: int('capacity-step-seconds', 10),
  capacityP99Ms: int('capacity-p99-ms', 100),
  capacityRate: int('capacity-rate', 1000),
  capacityMaxSubs: int('capacity-max-subs', 16_000),
  capacityWarmupSeconds: int('capacity-warmup-s', 30, { min: 0 }),
  soakMinutes: num('soak-minutes', 60, { min: 0.1 }),
  soakHeartbeatS: num('soak-heartbeat-s', 30, { min: 1 }),
  attackStreams: int('attack-streams', 1000),
  attackPosts: int('attack-posts', 80),
  attackBytes: int('attack-bytes', 250_000),
  filteredStreams: int('filtered-streams', 5000),
  limitPosts: int('limit-posts', 40_000),
  costRate: int('cost-rate', 2000),
  costSeconds: int('cost-seconds', 20),
  soakSessions: int('soak-sessions', 2000, {
    min: RESERVED_SESSIONS + 5,
    why: `: ${RESERVED_SESSIONS} of them are the sessions the session readers follow`,
  }),
};

const RUNNERS = {
  ingest: scenarios.ingest,
  fanout: scenarios.fanout,
  idle: scenarios.idle,
  paused: scenarios.paused,
  bomb: scenarios.bomb,
  backplane: scaleScenarios.backplane,
  'idle-flow': scaleScenarios.idleFlow,
  capacity,
  soak,
  attack: boundedScenarios.attack,
  'ingest-filtered': boundedScenarios.ingestFiltered,
  'rate-limit': boundedScenarios.rateLimit,
  cost,
};
/** Scenarios that start the servers they need themselves. */
const OWN_SERVERS = new Set(['backplane', 'idle-flow', 'capacity', 'rate-limit']);
const selected = opt.scenarios
  .split(/[\s,]+/)
  .filter(Boolean)
  .flatMap((s) => (s === 'fanout' ? ['fanout:100', 'fanout:1000'] : [s]));
for (const s of selected) {
  const [base, arg] = s.split(':');
  const ok = RUNNERS[base] && (base === 'fanout' ? /^[1-9]\d*$/.test(arg ?? '') : arg === undefined);
  if (!ok) {
    log(`unknown scenario ${s}; known: ${Object.keys(RUNNERS).join(', ').replace('fanout', 'fanout, fanout:N')}`);
    process.exit(2);
  }
  if (OWN_SERVERS.has(s) && (opt.url || opt['reuse-server'])) {
    log(`${s} starts its own servers: it cannot run with --url or --reuse-server`);
    process.exit(2);
  }
}

// The hard limit: by default 20 minutes (8 with --quick) for each run of the scenarios (a target in a round), and
// the soak's own length and a quarter of an hour for capacity on top.
const runMinutes =
  defaults.maxMinutes +
  (selected.includes('soak') ? settings.soakMinutes + 3 : 0) +
  (selected.includes('capacity') ? 15 : 0);
settings.maxMinutes = int('max-minutes', Math.ceil(runMinutes * targets.length * settings.rounds));

// The cgroups must be possible before anything starts: a one-line reason otherwise.
if (settings.cgroup || selected.includes('capacity')) {
  try {
    checkCgroups();
  } catch (err) {
    if (!(err instanceof CgroupError)) throw err;
    log(`${settings.cgroup ? '--cgroup' : 'the capacity scenario'}: ${err.message}`);
    process.exit(2);
  }
}

// Thousands of SSE sockets need file descriptors, here and in the server (which inherits the limit). Node cannot
// raise its own limit: run again under a shell that does.
const sockets = Math.max(
  settings.ingestSubs,
  ...selected.map((s) =>
    s === 'idle'
      ? settings.idleSubs
      : s === 'idle-flow'
        ? settings.flowSubs
        : s === 'capacity'
          ? settings.capacityMaxSubs + 100
          : s === 'attack'
            ? settings.attackStreams + 10
            : s === 'ingest-filtered'
              ? settings.filteredStreams + 10
              : s.startsWith('fanout:')
                ? Number(s.slice(7))
                : 0,
  ),
);
const limits = openFileLimits();
const wanted = sockets + 1024;
if (limits && limits.soft < wanted && !process.env.BENCH_FD_RAISED) {
  const raise = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const child = spawn(
    'bash',
    ['-c', raise, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, BENCH_FD_RAISED: '1' } },
  );
  // Ctrl-C reaches the child too (same process group): wait for it to clean up.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + os.constants.signals[signal] : 1)));
} else {
  if (limits && limits.soft < wanted) log(`warning: open-file limit ${limits.soft}, the run needs about ${wanted}`);
  await main();
}

async function main() {
  const multi = targets.length > 1 || settings.rounds > 1;
  const describeTarget = (t) => t.url ?? t.command ?? 'npm start';
  const meta = {
    label: mainLabel,
    target: describeTarget(targets[0]),
    ...(multi && { targets: targets.map((t) => ({ label: t.label, target: describeTarget(t) })) }),
    rounds: settings.rounds,
    started_at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadavg_start: os.loadavg().map((x) => round(x)),
    open_file_limit: openFileLimits()?.soft,
    quick: opt.quick,
    settings,
  };
  /** Every run: one scenario for one target in one round. */
  const runs = [];
  /** Servers started and not stopped yet, whoever started them. */
  const live = new Set();
  /** Per target: the server every scenario uses (--url, --reuse-server). */
  const shared = new Map();
  const printed = new Set();
  let finishing = false;

  const printRun = (target, n) => {
    const key = `${target.label}#${n}`;
    const ofRun = runs.filter((r) => r.target === target.label && r.round === n);
    if (printed.has(key) || !ofRun.length) return;
    printed.add(key);
    printTable({ meta, target, round: multi ? n : null, entries: ofRun });
  };
  const finish = async (code, why) => {
    if (finishing) return;
    finishing = true;
    if (why) log(why);
    // The servers still running (the current scenario's, one a scenario started itself, the shared ones).
    await Promise.all([...live].map((server) => server.stop()));
    await removeAllCgroups();
    meta.loadavg_end = os.loadavg().map((x) => round(x));
    meta.finished_at = new Date().toISOString();
    for (let n = 1; n <= settings.rounds; n++) for (const t of targets) printRun(t, n);
    const summary = multi
      ? summarize(
          runs,
          targets.map((t) => t.label),
        )
      : null;
    if (summary) process.stdout.write(formatSummary(summary));
    if (opt.json) {
      const report = multi
        ? { meta, runs, summary }
        : {
            meta,
            scenarios: Object.fromEntries(runs.map(({ scenario, target: _t, round: _r, ...e }) => [scenario, e])),
          };
      fs.mkdirSync(path.dirname(path.resolve(opt.json)), { recursive: true });
      fs.writeFileSync(opt.json, `${JSON.stringify(report, null, 2)}\n`);
      log(`JSON written to ${opt.json}`);
    }
    process.exit(code);
  };
  setTimeout(
    () => void finish(124, `time limit of ${settings.maxMinutes} min reached: stopping`),
    settings.maxMinutes * 60_000,
  ).unref();
  process.on('SIGINT', () => void finish(130, 'interrupted'));
  process.on('SIGTERM', () => void finish(143, 'terminated'));

  if (!opt.target && !opt.url && !opt['skip-build']) ensureBuilt(ROOT);
  log(
    `bench: ${targets.map((t) => `${describeTarget(t)} (${t.label})`).join(' vs ')}; scenarios ${selected.join(', ')}` +
      `${settings.rounds > 1 ? `, ${settings.rounds} rounds` : ''}${opt.quick ? ' (quick)' : ''}` +
      `${settings.cgroup ? `; servers in a cgroup of ${describeLimits({ cpu_ms: settings.cgroup.cpuMs, memory_mib: settings.cgroup.memoryMiB })}` : ''}`,
  );
  log(
    `       ${meta.cpus} CPUs, load average ${meta.loadavg_start.join(' ')}, open-file limit ${meta.open_file_limit}` +
      `, time limit ${settings.maxMinutes} min`,
  );

  /** Starts a server of `target`, tracked until it stops; `cgroup`: --cgroup's limits unless a scenario sets its own. */
  const startFor =
    (target, started) =>
    async (env = {}, limits = settings.cgroup) => {
      const server = await startServer({
        root: ROOT,
        command: target.command,
        label: target.label,
        env,
        cgroup: limits,
      });
      live.add(server);
      started.push(server);
      return server;
    };
  const serverFor = async (target, started) => {
    if (shared.has(target.label)) return shared.get(target.label);
    const server = target.url
      ? await attachServer(target.url, opt.pid ? Number(opt.pid) : undefined)
      : await startFor(target, started)();
    if (target.url || opt['reuse-server']) shared.set(target.label, server);
    return server;
  };

  /** One scenario for one target: `entry` (already in `runs`) gets its result, rows and the cgroup's figures. */
  const runOne = async (target, name, entry) => {
    const [base, arg] = name.split(':');
    const t0 = Date.now();
    const started = [];
    let server = null;
    try {
      if (OWN_SERVERS.has(base)) {
        const { result, rows } = await RUNNERS[base]({
          settings,
          startServer: startFor(target, started),
          partial: entry,
        });
        Object.assign(entry, result);
        entry.rows = rows;
      } else {
        server = await serverFor(target, started);
        server.cgroup?.resetPeak(); // a shared server: this scenario's peak
        entry.server_pid = server.pid;
        const { result, rows } = await RUNNERS[base]({ server, settings, partial: entry }, arg && Number(arg));
        Object.assign(entry, result);
        entry.rows = rows;
      }
    } catch (err) {
      entry.error = String(err?.message ?? err);
      log(`[${name}] failed: ${entry.error}`);
    }
    if (server) {
      const health = await request({ port: server.port, path: '/health', timeoutMs: 3000 });
      entry.server_after = { exited: server.exited(), health: health.status ?? health.error };
      if (entry.server_after.exited) log(`[${name}] the server exited: ${server.logTail?.(20)}`);
    }
    const inCgroup = [...new Set([...started, server].filter((s) => s?.cgroup))];
    for (const s of started) {
      if ([...shared.values()].includes(s)) continue;
      await s.stop();
      live.delete(s);
    }
    if (inCgroup.length) addCgroupFigures(entry, inCgroup);
    entry.scenario_s = round((Date.now() - t0) / 1000, 1);
  };

  for (let n = 1; n <= settings.rounds; n++) {
    // The target that goes first turns each round: a drift of the machine does not weigh on one target only.
    const order = targets.map((_, i) => targets[(i + n - 1) % targets.length]);
    if (multi) log(`[round ${n}/${settings.rounds}] ${order.map((t) => t.label).join(', ')}`);
    for (const name of selected) {
      for (const target of order) {
        if (multi) log(`[${name}] ${target.label}, round ${n}`);
        const entry = { scenario: name, target: target.label, round: n };
        runs.push(entry);
        await runOne(target, name, entry);
      }
    }
    if (multi) for (const target of order) printRun(target, n);
  }
  await finish(0);
}

/** The figures of the cgroups of a run's servers, in its JSON, its rows and its metrics. */
function addCgroupFigures(entry, servers) {
  const figures = servers.map((s) => {
    const stats = s.cgroup.stats() ?? {};
    return {
      server_pid: s.pid,
      limits: s.cgroup.limits,
      memory_peak_bytes: stats.memory_peak_bytes ?? null,
      oom_kills: stats.oom_kills ?? 0,
      oom_killed: s.oomKilled(),
      cpu_periods: stats.cpu_periods ?? null,
      cpu_throttled_periods: stats.cpu_throttled_periods ?? null,
      cpu_throttled_s: round(stats.cpu_throttled_s, 1),
    };
  });
  entry.cgroup = figures;
  const mib = (bytes) => (bytes == null ? 'n/a' : `${round(bytes / 1048576, 1)} MiB`);
  const each = (f) => figures.map(f).join(', ');
  const several = figures.length > 1 ? ` (${figures.length} servers)` : '';
  const oomKills = figures.reduce((n, f) => n + f.oom_kills, 0);
  entry.rows = [
    ...(entry.rows ?? []),
    [`cgroup: limits${several}`, [...new Set(figures.map((f) => describeLimits(f.limits)))].join('; ')],
    ['cgroup: peak memory', each((f) => mib(f.memory_peak_bytes))],
    ['cgroup: OOM kills', String(oomKills)],
    [
      'cgroup: server OOM-killed',
      figures.some((f) => f.oom_killed)
        ? `YES${figures.length > 1 ? ` (${each((f) => (f.oom_killed ? 'yes' : 'no'))})` : ''}`
        : 'no',
    ],
    [
      'cgroup: CPU throttled',
      each(
        (f) =>
          `${f.cpu_throttled_s ?? 'n/a'} s in ${f.cpu_throttled_periods ?? 'n/a'} of ${f.cpu_periods ?? 'n/a'} periods`,
      ),
    ],
  ];
  const peaks = figures.map((f) => f.memory_peak_bytes).filter((b) => b != null);
  entry.metrics = {
    ...entry.metrics,
    'cgroup: peak memory (MiB)': peaks.length ? round(Math.max(...peaks) / 1048576, 1) : null,
    'cgroup: OOM kills': oomKills,
  };
}

/** The table of one run: one target, its scenarios (of one round with --compare or --rounds). */
function printTable({ meta, target, round: n, entries }) {
  const rows = [['Scenario', 'Metric', n ? `${target.label}, round ${n}` : target.label]];
  for (const entry of entries) {
    const name = entry.scenario;
    if (entry.error) rows.push([name, 'ERROR', entry.error.split('\n')[0].slice(0, 100)]);
    else if (!entry.rows) rows.push([name, 'not finished', 'the run was cut short']);
    for (const [metric, value] of entry.rows ?? []) rows.push([name, metric, value]);
    if (entry.server_after && (entry.server_after.exited || entry.server_after.health !== 200)) {
      rows.push([
        name,
        'server after the scenario',
        `exited: ${JSON.stringify(entry.server_after.exited)}, GET /health: ${entry.server_after.health}`,
      ]);
    }
  }
  const out = [
    '',
    `${target.url ?? target.command ?? 'npm start'} - ${meta.started_at}, node ${meta.node}, ${meta.cpus} CPUs, ` +
      `load average ${meta.loadavg_start.join(' ')} -> ${(meta.loadavg_end ?? os.loadavg().map((x) => round(x))).join(' ')}` +
      (meta.quick ? ' (--quick)' : ''),
    '',
    formatTable(rows),
    '',
  ];
  process.stdout.write(out.join('\n'));
}
