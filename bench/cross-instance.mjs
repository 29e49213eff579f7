#!/usr/bin/env node
// Cross-instance fan-out latency: POST to instance A, readers on instance B (through Redis pub/sub), next to
// the same load on one instance alone (no REDIS_URL) and to A's own readers (the local path with Redis on).
//
//   npm run build && npm run bench:cross-instance -- [--events 2000] [--rate 200] [--readers 10] [--bytes 400]
//
// Starts its own redis-server (no persistence) and service processes (as `npm start` runs them) on 127.0.0.1 free ports, and
// stops them at the end. Bounded: a fixed number of events at a fixed rate, and a hard time limit.
// Each event carries its send time (process.hrtime, one monotonic clock for every process of the machine), taken
// just before its POST; the readers, in a worker thread so that receiving does not delay sending, subtract it on
// receipt. The latency thus includes the POST's handling, the same way in every row.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseCommandLine } from '../scripts/lib/command-line.mjs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { START_COMMAND } from './lib/target.mjs';
import { watched } from './lib/util.mjs';

const HELP = `Usage: npm run bench:cross-instance -- [options]   (after npm run build)

  --events N        events per run (default 2000, at most 100000)
  --rate N          events per second (default 200, at most 5000)
  --readers N       SSE readers per group (default 10, at most 500)
  --bytes N         size of each event (default 400)
  --time-limit S    hard limit for the whole run (default 120)
  --json            print the results as JSON
  -h, --help        this help
`;

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (isMainThread) {
  await main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  readers(workerData);
}

/** Worker: SSE readers on the given ports; answers 'ready' once connected, then the latencies on 'finish'. */
function readers({ groups, perGroup, expected }) {
  const results = {};
  const requests = [];
  let connected = 0;
  const total = Object.keys(groups).length * perGroup;
  for (const [name, port] of Object.entries(groups)) {
    const result = (results[name] = { samples: [], received: 0 });
    for (let i = 0; i < perGroup; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/events', agent: false });
      requests.push(req);
      req.on('error', (err) => parentPort.postMessage({ error: err.message }));
      req.on('response', (res) => {
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk) => {
          const now = nowUs();
          buffer += chunk;
          if (!buffer.endsWith('\n\n') && buffer.indexOf('\n\n') < 0) return;
          const blocks = buffer.split('\n\n');
          buffer = blocks.pop();
          for (const block of blocks) {
            const at = block.indexOf('"t":');
            if (at < 0) continue;
            result.samples.push(now - Number.parseInt(block.slice(at + 4, at + 24), 10));
            result.received++;
          }
        });
        if (++connected === total) parentPort.postMessage({ ready: true });
      });
    }
  }
  parentPort.on('message', async (message) => {
    if (message !== 'finish') return;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && Object.values(results).some((r) => r.received < expected)) await sleep(50);
    for (const req of requests) req.destroy();
    parentPort.postMessage({ results });
  });
}

async function main() {
  const opts = parseCommandLine('cross-instance', HELP, {
    events: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '200' },
    readers: { type: 'string', default: '10' },
    bytes: { type: 'string', default: '400' },
    'time-limit': { type: 'string', default: '120' },
    json: { type: 'boolean', default: false },
  });
  const EVENTS = Math.min(Number(opts.events), 100_000);
  const RATE = Math.min(Number(opts.rate), 5_000);
  const READERS = Math.min(Number(opts.readers), 500);
  const PAD = 'x'.repeat(Math.max(0, Number(opts.bytes) - 130));
  const TIME_LIMIT_MS = Number(opts['time-limit']) * 1000;
  const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';

  const children = new Set();
  process.on('exit', () => {
    for (const child of children) child.kill('SIGHUP'); // SIGKILL of the command, through its shell (see watched)
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  setTimeout(() => {
    console.error(`time limit of ${TIME_LIMIT_MS / 1000} s reached`);
    process.exit(2);
  }, TIME_LIMIT_MS).unref();

  function freePort() {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
  }

  function start(command, args, env, readyText) {
    const child = spawn(...watched(command, args), {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${command} not ready after 15 s:\n${output}`)), 15_000);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${command} exited (${code}):\n${output}`)));
      child.stderr.on('data', (c) => (output += c));
      child.stdout.on('data', (chunk) => {
        output += chunk;
        if (!output.includes(readyText)) return;
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve(child);
      });
    });
  }

  function status(url) {
    return new Promise((resolve) => {
      http
        .get(url, { agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', () => resolve(0));
    });
  }

  async function startApp(env) {
    const port = await freePort();
    const child = await start(...START_COMMAND, { ...env, PORT: String(port), HOST: '127.0.0.1' }, 'Listening on');
    // With Redis, /health is 200 once the backplane is up.
    for (let i = 0; i < 100; i++) {
      if ((await status(`http://127.0.0.1:${port}/health`)) === 200) return { child, port };
      await sleep(100);
    }
    throw new Error(`http://127.0.0.1:${port}/health never answered 200`);
  }

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  function post(port, body) {
    return new Promise((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = http.request(
        { host: '127.0.0.1', port, path: '/api/events', method: 'POST', agent, headers },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`POST ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Posts EVENTS events at RATE per second to `target`, read by READERS readers on each port of `groups`. */
  async function run(target, groups) {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { groups, perGroup: READERS, expected: EVENTS * READERS },
    });
    const messages = [];
    let wake = () => {};
    worker.on('message', (m) => {
      messages.push(m);
      wake();
    });
    worker.on('error', (err) => {
      messages.push({ error: err.message });
      wake();
    });
    const next = async () => {
      while (!messages.length) await new Promise((r) => (wake = r));
      const m = messages.shift();
      if (m.error) throw new Error(`reader: ${m.error}`);
      return m;
    };
    await next(); // ready
    await sleep(300);
    const startAt = performance.now();
    const inFlight = [];
    let failed = 0;
    for (let seq = 0; seq < EVENTS; seq++) {
      const wait = startAt + (seq * 1000) / RATE - performance.now();
      if (wait > 1) await sleep(wait);
      const body =
        `{"event_name":"BENCH","session_id":"bench-session","seq":${seq},"t":${nowUs()},` +
        `"version":1,"timestamp":${Date.now()},"data":{"pad":"${PAD}"}}`;
      inFlight.push(post(target, body).catch(() => failed++));
    }
    await Promise.all(inFlight);
    worker.postMessage('finish');
    const { results } = await next();
    await worker.terminate();
    const rows = {};
    for (const [name, { samples, received }] of Object.entries(results)) {
      samples.sort((x, y) => x - y);
      const q = (p) => (samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN) / 1000;
      rows[name] = { received, expected: EVENTS * READERS, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
    }
    return { failed, rows };
  }

  if (!existsSync('dist/main.js'))
    throw new Error('dist/main.js is missing: run `npm run build` first, from the project root');
  const redisPort = await freePort();
  const redisArgs = ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  await start(REDIS_SERVER, redisArgs, {}, 'Ready to accept connections');
  const redis = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_CHANNEL: `bench:${process.pid}` };

  const loadBefore = (await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.error(`${EVENTS} events at ${RATE}/s, ${READERS} readers per row, ~${opts.bytes} bytes per event`);
  console.error('phase 1: one instance alone (no REDIS_URL), POST and readers on it');
  const alone = await startApp({});
  const single = await run(alone.port, { 'one instance alone': alone.port });
  alone.child.kill('SIGTERM');

  console.error('phase 2: two instances joined by Redis, POST to A, readers on A and on B');
  const a = await startApp(redis);
  const b = await startApp(redis);
  const joined = await run(a.port, { 'A, its own readers (Redis on)': a.port, 'B, through Redis': b.port });
  const loadAfter = (await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

  const rows = { ...single.rows, ...joined.rows };
  const failedPosts = single.failed + joined.failed;
  if (opts.json) {
    const summary = { events: EVENTS, rate: RATE, readers: READERS, loadBefore, loadAfter, failedPosts, rows };
    console.log(JSON.stringify(summary, null, 2));
  } else {
    const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
    console.log(`load average before: ${loadBefore}; after: ${loadAfter}; failed POSTs: ${failedPosts}`);
    console.log('| readers | received / expected | p50 ms | p90 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, r] of Object.entries(rows)) {
      console.log(
        `| ${name} | ${r.received} / ${r.expected} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} |`,
      );
    }
  }
  process.exit(0);
}
