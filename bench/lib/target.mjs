// The server under test: the project's build (as `npm start` runs it), another command (`--target`) or an already
// running server (`--url`). Servers the benchmark starts listen on 127.0.0.1 and a free port, given as PORT.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeCgroup } from './cgroup.mjs';
import { listenerPid, log, pidAlive, sleep, waitHealthy, watched } from './util.mjs';

function newestMtime(entry) {
  let stat;
  try {
    stat = fs.statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/** Runs `npm run build` when dist/main.js is missing or older than the sources or the build configuration. */
export function ensureBuilt(root) {
  const main = path.join(root, 'dist', 'main.js');
  const built = fs.existsSync(main) ? fs.statSync(main).mtimeMs : 0;
  const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package.json'];
  const newest = Math.max(...inputs.map((entry) => newestMtime(path.join(root, entry))));
  if (built && built >= newest) return false;
  log(built ? 'dist/ is older than src/: npm run build' : 'no dist/main.js: npm run build');
  // The build's output goes to stderr: stdout carries the result table only.
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
  return true;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** How `npm start` and the image start the service: the benchmark measures it as it is deployed. */
export const START_COMMAND = ['sh', ['scripts/start.sh']];

/**
 * Every client of the benchmark comes from 127.0.0.1, where production's come from many addresses: the service's
 * per-address limit on streams (MAX_SUBSCRIBERS_PER_ADDRESS) would refuse the thousands of subscribers of idle,
 * fanout:1000, idle-flow and capacity. It is lifted unless the environment of the benchmark sets it.
 */
const BENCH_DEFAULT_ENV = { MAX_SUBSCRIBERS_PER_ADDRESS: '1000000' };

/**
 * Starts a server in its own process group with PORT (and HOST=127.0.0.1) in its environment, waits for
 * GET /health to answer 200, and returns `{ port, pid, url, logFile, cgroup, exited(), oomKilled(), stop() }`.
 * @param {object} o
 * @param {string} o.root
 * @param {string} [o.command] run under bash; without it, `npm start`'s command (scripts/start.sh) in `root`
 * @param {string} o.label
 * @param {Record<string, string>} [o.env] variables added for this server (e.g. REDIS_URL)
 * @param {{ cpuMs: number, memoryMiB: number } | null} [o.cgroup] run the server in a cgroup of its own with
 *   these limits (see cgroup.mjs): `cgroup` of the result gives its figures (`stats()`), kept after stop()
 */
export async function startServer({ root, command, label, env: extraEnv = {}, cgroup = null }) {
  const port = await freePort();
  const logFile = path.join(os.tmpdir(), `bench-${label.replace(/\W+/g, '_')}-${port}.log`);
  const out = fs.openSync(logFile, 'w');
  const env = { ...BENCH_DEFAULT_ENV, ...process.env, ...extraEnv, PORT: String(port), HOST: '127.0.0.1' };
  const group = cgroup ? makeCgroup(cgroup) : null;
  let [file, args] = command ? ['bash', ['-c', command]] : START_COMMAND;
  // Only the server joins the group: the watcher shell around it stays out, so as to remove the group after it.
  if (group) [file, args] = group.wrap(file, args);
  const child = spawn(...watched(file, args, group?.dirs), {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exit = null;
  let stopping = false;
  let diedByItself = false;
  child.on('exit', (code, signal) => (exit = { code, signal }));

  const stop = async () => {
    if (exit) diedByItself ||= !stopping;
    stopping = true;
    if (!exit) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 120 && !exit; i++) await sleep(100); // the service drains for SHUTDOWN_TIMEOUT_MS at most
      if (!exit) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        for (let i = 0; i < 20 && !exit; i++) await sleep(100);
      }
    }
    await group?.remove();
  };

  // A server with a quarter of a CPU starts several times slower.
  const startMs = group ? 90_000 : 30_000;
  if (!(await waitHealthy(port, startMs, () => exit !== null))) {
    await stop();
    const how = exit
      ? `it exited (${JSON.stringify(exit)})`
      : `it did not answer GET /health with 200 within ${startMs / 1000} s`;
    throw new Error(`the server on port ${port} did not start: ${how}; its log ${logFile}:\n${tail(logFile)}`);
  }
  const pid = listenerPid(port, child.pid) ?? child.pid;
  const exited = () => exit ?? (pidAlive(pid) === false ? { code: null, signal: 'unknown' } : null);
  return {
    port,
    pid,
    url: `http://127.0.0.1:${port}`,
    logFile,
    cgroup: group,
    exited,
    /** Whether the kernel killed the server for its cgroup's memory limit (it died by itself, and the group saw it). */
    oomKilled: () => {
      if (!group) return false;
      const died = diedByItself || (!stopping && exited() !== null);
      return died && (group.stats()?.oom_kills ?? 0) > 0;
    },
    logTail: (lines) => tail(logFile, lines),
    stop,
  };
}

/** A server someone else started: only 127.0.0.1 is accepted. */
export async function attachServer(url, pid) {
  const parsed = new URL(url);
  if (parsed.hostname !== '127.0.0.1') throw new Error(`--url must point to 127.0.0.1, not ${parsed.hostname}`);
  const port = Number(parsed.port || 80);
  if (!(await waitHealthy(port, 5000))) throw new Error(`${url}/health does not answer 200`);
  const serverPid = pid ?? listenerPid(port);
  return {
    port,
    pid: serverPid,
    url: `http://127.0.0.1:${port}`,
    exited: () => (pidAlive(serverPid) === false ? { code: null, signal: 'unknown' } : null),
    logTail: () => '',
    stop: async () => {},
  };
}
