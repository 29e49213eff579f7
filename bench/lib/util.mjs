// Timing, statistics, /proc readers, the event payload and a small HTTP client for the benchmark.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Monotonic microseconds (CLOCK_MONOTONIC): the same clock in every thread and process of this machine. */
export const nowUs = () => Number(process.hrtime.bigint() / 1000n);
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export const round = (x, digits = 2) =>
  typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x;

/** Progress goes to stderr: stdout carries the result table only. */
/** A name made unique per run, so that a phase's events are told from any other's. */
export const phaseToken = (name) => `${name}-${crypto.randomBytes(4).toString('hex')}`;
/** The sum of a `{ key: count }` object, and its description (`3× 503, 1× 429`). */
export const countOf = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
export const describeCounts = (counts) =>
  Object.entries(counts ?? {})
    .map(([k, v]) => `${v}× ${k}`)
    .join(', ') || '0';

export function log(...parts) {
  process.stderr.write(`${parts.join(' ')}\n`);
}

/** n, min, mean, p50, p90, p99, p99.9 and max of a list of numbers (nearest-rank percentiles). */
export function percentiles(values) {
  const n = values.length;
  if (!n) return { n: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const at = (p) => round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))], 3);
  return {
    n,
    min: round(sorted[0], 3),
    mean: round(sum / n, 3),
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p99_9: at(99.9),
    max: round(sorted[n - 1], 3),
  };
}

/** The median of numbers (the mean of the middle two for an even count); null for none. */
export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The least-squares slope of y over x, for points `[x, y]`; null for fewer than two distinct x. */
export function slope(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx ? sxy / sxx : null;
}

// ---------------------------------------------------------------- /proc

export function rssKb(pid) {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, all threads) used so far by `pid`. */
export function cpuSeconds(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks of 1/100 s (USER_HZ)
  } catch {
    return null;
  }
}

/**
 * `command args` as the arguments of spawn(), under a shell that stops the command (SIGTERM) once the benchmark is
 * gone, even when it was killed with SIGKILL and no exit handler ran: a server or redis-server left listening would
 * outlive the run. The shell passes its own SIGTERM on, turns a SIGHUP into a SIGKILL of the command (SIGKILL
 * itself would stop the shell alone), and exits with the command's status.
 * `removeDirs` (the cgroups the command runs in, see cgroup.mjs) are removed by the shell after the command ended
 * if the benchmark is gone by then; while the benchmark lives, it removes them itself, after reading their figures.
 * @param {string[]} [removeDirs] paths made by the benchmark (no quote in them)
 * @returns {[string, string[]]}
 */
export function watched(command, args = [], removeDirs = []) {
  const removal = removeDirs.length
    ? `; s=$?; kill -0 $PPID 2>/dev/null || for d in ${removeDirs.map((d) => `'${d}'`).join(' ')}; do ` +
      'for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$d" 2>/dev/null || [ ! -d "$d" ] && break; sleep 0.3; done; done; ' +
      'exit $s'
    : '';
  const script =
    '"$0" "$@" & c=$!; trap \'kill $c 2>/dev/null\' TERM INT; trap \'kill -9 $c 2>/dev/null\' HUP; ' +
    'while kill -0 $PPID 2>/dev/null && kill -0 $c 2>/dev/null; do sleep 1; done; kill $c 2>/dev/null; wait $c' +
    removal;
  return ['sh', ['-c', script, command, ...args]];
}

/**
 * The stop() of a child the benchmark started: SIGTERM, resolved once the child has exited. Until stop() is called,
 * `exitSignal` is sent to the child if the benchmark exits first.
 */
export function stopOnExit(child, exitSignal) {
  const onExit = () => child.kill(exitSignal);
  process.once('exit', onExit);
  return async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
}

export function pidAlive(pid) {
  if (!pid) return null;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Timeouts that can all be cancelled at once; none is set once stopped. */
export class Timers {
  stopped = false;
  #pending = new Set();

  later(ms, fn) {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      fn();
    }, ms);
    this.#pending.add(timer);
  }

  stop() {
    this.stopped = true;
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
  }
}

/** CPU use of the server and of this benchmark process (all its threads) over a window, in % of one core. */
export class CpuMeter {
  constructor(pid) {
    this.pid = pid;
    this.t0 = nowMs();
    this.server0 = cpuSeconds(pid);
    this.bench0 = process.cpuUsage();
  }

  read() {
    const wallS = (nowMs() - this.t0) / 1000;
    const server1 = cpuSeconds(this.pid);
    const bench = process.cpuUsage(this.bench0);
    return {
      wall_s: round(wallS),
      server_cpu_pct:
        this.server0 == null || server1 == null ? null : round((100 * (server1 - this.server0)) / wallS, 1),
      bench_cpu_pct: round((100 * (bench.user + bench.system)) / 1e6 / wallS, 1),
    };
  }
}

/** Samples the RSS of `pid` every `ms` and keeps the peak. */
export class RssSampler {
  constructor(pid, ms = 100) {
    this.peak = rssKb(pid);
    this.timer = pid
      ? setInterval(() => {
          const rss = rssKb(pid);
          if (rss != null && (this.peak == null || rss > this.peak)) this.peak = rss;
        }, ms)
      : null;
    this.timer?.unref();
  }

  stop() {
    clearInterval(this.timer);
    return this.peak;
  }
}

/** The soft and hard open-file limits of this process. */
export function openFileLimits() {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
    return m ? { soft: num(m[1]), hard: num(m[2]) } : null;
  } catch {
    return null;
  }
}

function listeningInodes(port) {
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  return inodes;
}

function holdsSocket(pid, inodes) {
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) return true;
    } catch {
      // the fd was closed meanwhile
    }
  }
  return false;
}

/**
 * The process listening on `port`, found through /proc (a `--target` command may run the server under a shell).
 * `first` is checked before every other process.
 */
export function listenerPid(port, first) {
  const inodes = listeningInodes(port);
  if (!inodes.size) return null;
  if (first && holdsSocket(first, inodes)) return first;
  for (const entry of fs.readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && Number(entry) !== process.pid && holdsSocket(entry, inodes)) return Number(entry);
  }
  return null;
}

// ---------------------------------------------------------------- payload

/** A HEARTBEAT like a Pillarbox player sends, padded to about `targetBytes` of JSON. */
export function heartbeat(extra = {}, targetBytes = 600) {
  const event = {
    event_name: 'HEARTBEAT',
    session_id: crypto.randomUUID(),
    timestamp: Date.now(),
    version: 1,
    data: {
      airplay: false,
      bandwidth: 48205812,
      bitrate: 2500000,
      buffered_duration: 29120,
      frame_drops: 0,
      playback_duration: 363210,
      position: 1832000,
      position_timestamp: Date.now(),
      stall: { count: 1, duration: 420 },
      stream_type: 'On-demand',
      subtitles: { enabled: false, language: 'de' },
      url: 'https://srgssr-uod.akamaized.net/hls/urn-srf-video-0d2a2a5e/master.m3u8?start=0.0&end=3600.0',
      vpn: false,
    },
    ...extra,
  };
  const size = Buffer.byteLength(JSON.stringify(event));
  if (size < targetBytes - 5) event.data.url += `&pad=${'x'.repeat(targetBytes - size - 5)}`;
  return event;
}

/**
 * Bodies of about `bytes` for phase `token`, numbered and stamped with the send time (`t_us`, last field,
 * so that readers find it without parsing the JSON).
 */
export function eventFactory(token, bytes = 600) {
  const prefix = JSON.stringify(heartbeat({ bench_phase: token }, bytes - 40)).slice(0, -1);
  return (seq) => `${prefix},"bench_seq":${seq},"t_us":${nowUs()}}`;
}

/**
 * Like eventFactory, for events spread over sessions: event `seq` belongs to session `<prefix><seq % sessions>`
 * (and carries `bench_seq`).
 */
export function sessionEventFactory(token, prefix, sessions, bytes = 600) {
  const marker = '@@session@@';
  const [head, tail] = JSON.stringify(heartbeat({ session_id: marker, bench_phase: token }, bytes - 60))
    .slice(0, -1)
    .split(marker);
  return (seq) => `${head}${prefix}${seq % sessions}${tail},"bench_seq":${seq},"t_us":${nowUs()}}`;
}

// ---------------------------------------------------------------- HTTP

/**
 * One request to 127.0.0.1; never rejects: resolves `{ status, body, ms }` or `{ error, ms }`.
 * Without `agent`, a fresh connection.
 */
export function request({ port, method = 'GET', path = '/', headers = {}, body, timeoutMs = 5000, agent = false }) {
  return new Promise((resolve) => {
    const t0 = nowMs();
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ms: round(nowMs() - t0, 3), ...result });
    };
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => finish({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => finish({ status: res.statusCode, error: err.code || err.message }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ error: 'timeout' });
    }, timeoutMs);
    req.on('error', (err) => finish({ error: err.code || err.message }));
    req.end(body);
  });
}

export function postEvent(port, body, { agent, timeoutMs = 5000 } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return request({
    port,
    method: 'POST',
    path: '/api/events',
    agent,
    timeoutMs,
    body: text,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
  });
}

export async function waitHealthy(port, timeoutMs = 30000, isDead = () => false) {
  const end = nowMs() + timeoutMs;
  while (nowMs() < end && !isDead()) {
    const res = await request({ port, path: '/health', timeoutMs: 1000 });
    if (res.status === 200) return true;
    await sleep(100);
  }
  return false;
}

/**
 * The samples of a Prometheus text exposition: `name -> [{ labels, value }]`, labels as an object. Lines it does
 * not understand are skipped: an empty map for a server without /metrics.
 */
export function parsePrometheus(text) {
  const out = new Map();
  for (const line of (text ?? '').split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** GET /metrics, parsed (an empty map when the server has none). */
export async function scrapeMetrics(port) {
  const res = await request({ port, path: '/metrics', timeoutMs: 5000 });
  return parsePrometheus(res.status === 200 ? res.body : '');
}
