#!/usr/bin/env node
// The project's benchmark: `npm run bench -- --help`. It starts the server itself (a fresh one per scenario),
// only ever talks to 127.0.0.1, bounds every loop, and stops by itself.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../scripts/lib/command-line.mjs';
import * as scaleScenarios from './lib/scale-scenarios.mjs';
import * as scenarios from './lib/scenarios.mjs';
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
  (backplane and idle-flow start their own servers: not with --url or --reuse-server)

Target (default: builds if dist/ is missing or older than src/, then runs it as npm start does)
  --target CMD     start CMD under bash instead (it gets PORT), e.g. a reference server doing the same job
  --url URL        measure a server already running on 127.0.0.1 (--pid PID for its RSS and CPU)
  --label NAME     name of the target in the table and the JSON
  --skip-build     never run npm run build
  --reuse-server   one server for every scenario (default: a fresh server per scenario, for clean RSS baselines)
  Other environment variables are passed on to the server (e.g. SSE_MAX_BUFFER_BYTES=...).

Output
  --json FILE      also write every result as JSON

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
  --max-minutes M         hard limit for the whole run (20; 8 with --quick)
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
  maxMinutes: int('max-minutes', defaults.maxMinutes),
};

const RUNNERS = {
  ingest: scenarios.ingest,
  fanout: scenarios.fanout,
  idle: scenarios.idle,
  paused: scenarios.paused,
  bomb: scenarios.bomb,
  backplane: scaleScenarios.backplane,
  'idle-flow': scaleScenarios.idleFlow,
};
/** Scenarios that start the servers they need themselves. */
const OWN_SERVERS = new Set(['backplane', 'idle-flow']);
const selected = opt.scenarios
  .split(/[\s,]+/)
  .filter(Boolean)
  .flatMap((s) => (s === 'fanout' ? ['fanout:100', 'fanout:1000'] : [s]));
for (const s of selected) {
  const [base, arg] = s.split(':');
  const ok = RUNNERS[base] && (base === 'fanout' ? /^[1-9]\d*$/.test(arg ?? '') : arg === undefined);
  if (!ok) {
    log(`unknown scenario ${s}; known: ingest, fanout, fanout:N, idle, paused, bomb, backplane, idle-flow`);
    process.exit(2);
  }
  if (OWN_SERVERS.has(s) && (opt.url || opt['reuse-server'])) {
    log(`${s} starts its own servers: it cannot run with --url or --reuse-server`);
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
  const label = opt.label ?? (opt.target ? 'target' : opt.url ? 'url' : 'app');
  const meta = {
    label,
    target: opt.url ?? opt.target ?? 'npm start',
    started_at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadavg_start: os.loadavg().map((x) => round(x)),
    open_file_limit: openFileLimits()?.soft,
    quick: opt.quick,
    settings,
  };
  const report = { meta, scenarios: {} };
  let current = null;
  const ownServers = new Set();
  let finishing = false;
  const finish = async (code, why) => {
    if (finishing) return;
    finishing = true;
    if (why) log(why);
    await current?.stop();
    // Servers a scenario started itself, still running when the run is cut short.
    await Promise.all([...ownServers].map((server) => server.stop()));
    meta.loadavg_end = os.loadavg().map((x) => round(x));
    meta.finished_at = new Date().toISOString();
    printTable(report);
    if (opt.json) {
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
  log(`bench: ${meta.target} (${label}); scenarios ${selected.join(', ')}${opt.quick ? ' (quick)' : ''}`);
  log(
    `       ${meta.cpus} CPUs, load average ${meta.loadavg_start.join(' ')}, open-file limit ${meta.open_file_limit}`,
  );

  const start = () =>
    opt.url
      ? attachServer(opt.url, opt.pid ? Number(opt.pid) : undefined)
      : startServer({ root: ROOT, command: opt.target, label });
  let shared = null;
  for (const name of selected) {
    const [base, arg] = name.split(':');
    const t0 = Date.now();
    const entry = {};
    report.scenarios[name] = entry;
    try {
      if (OWN_SERVERS.has(base)) {
        const startWith = async (env) => {
          const server = await startServer({ root: ROOT, command: opt.target, label, env });
          ownServers.add(server);
          return server;
        };
        const { result, rows } = await RUNNERS[base]({ settings, startServer: startWith });
        Object.assign(entry, result);
        entry.rows = rows;
        entry.scenario_s = round((Date.now() - t0) / 1000, 1);
        continue;
      }
      current = shared ?? (await start());
      if (opt.url || opt['reuse-server']) shared = current;
      entry.server_pid = current.pid;
      const { result, rows } = await RUNNERS[base]({ server: current, settings }, arg && Number(arg));
      Object.assign(entry, result);
      entry.rows = rows;
    } catch (err) {
      entry.error = String(err?.message ?? err);
      log(`[${name}] failed: ${entry.error}`);
    }
    if (current) {
      const health = await request({ port: current.port, path: '/health', timeoutMs: 3000 });
      entry.server_after = { exited: current.exited(), health: health.status ?? health.error };
      if (entry.server_after.exited) log(`[${name}] the server exited: ${current.logTail?.(20)}`);
      if (!shared) {
        await current.stop();
        current = null;
      }
    }
    entry.scenario_s = round((Date.now() - t0) / 1000, 1);
  }
  await finish(0);
}

function printTable(report) {
  const rows = [['Scenario', 'Metric', report.meta.label]];
  for (const [name, entry] of Object.entries(report.scenarios)) {
    if (entry.error) rows.push([name, 'ERROR', entry.error.split('\n')[0].slice(0, 100)]);
    for (const [metric, value] of entry.rows ?? []) rows.push([name, metric, value]);
    if (entry.server_after && (entry.server_after.exited || entry.server_after.health !== 200)) {
      rows.push([
        name,
        'server after the scenario',
        `exited: ${JSON.stringify(entry.server_after.exited)}, GET /health: ${entry.server_after.health}`,
      ]);
    }
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r[0].padEnd(widths[0])} | ${r[1].padEnd(widths[1])} | ${r[2]} |`;
  const out = [
    '',
    `${report.meta.target} - ${report.meta.started_at}, node ${report.meta.node}, ${report.meta.cpus} CPUs, ` +
      `load average ${report.meta.loadavg_start.join(' ')} -> ${report.meta.loadavg_end?.join(' ')}` +
      (report.meta.quick ? ' (--quick)' : ''),
    '',
    line(rows[0]),
    `|${'-'.repeat(widths[0] + 2)}|${'-'.repeat(widths[1] + 2)}|---|`,
    ...rows.slice(1).map(line),
    '',
  ];
  process.stdout.write(out.join('\n'));
}
