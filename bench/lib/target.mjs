// The server under test: the project's build (as `npm start` runs it), another command (`--target`) or an already
// running server (`--url`). Servers the benchmark starts listen on 127.0.0.1 and a free port, given as PORT.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
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
 * Starts a server in its own process group with PORT (and HOST=127.0.0.1) in its environment, waits for
 * GET /health to answer 200, and returns `{ port, pid, url, logFile, exited(), stop() }`.
 * @param {{ root: string, command?: string, label: string, env?: Record<string, string> }} o without `command`:
 *   `npm start`'s command (scripts/start.sh) in `root`; `env`: variables added for this server (e.g. REDIS_URL)
 */
export async function startServer({ root, command, label, env: extraEnv = {} }) {
  const port = await freePort();
  const logFile = path.join(os.tmpdir(), `bench-${label.replace(/\W+/g, '_')}-${port}.log`);
  const out = fs.openSync(logFile, 'w');
  const env = { ...process.env, ...extraEnv, PORT: String(port), HOST: '127.0.0.1' };
  const [file, args] = command ? watched('bash', ['-c', command]) : watched(...START_COMMAND);
  const child = spawn(file, args, { cwd: root, env, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exit = null;
  child.on('exit', (code, signal) => (exit = { code, signal }));

  const stop = async () => {
    if (exit) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 120 && !exit; i++) await sleep(100); // the service drains for SHUTDOWN_TIMEOUT_MS at most
    if (!exit) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  if (!(await waitHealthy(port, 30000, () => exit !== null))) {
    await stop();
    const how = exit ? `it exited (${JSON.stringify(exit)})` : 'it did not answer GET /health with 200 within 30 s';
    throw new Error(`the server on port ${port} did not start: ${how}; its log ${logFile}:\n${tail(logFile)}`);
  }
  const pid = listenerPid(port, child.pid) ?? child.pid;
  return {
    port,
    pid,
    url: `http://127.0.0.1:${port}`,
    logFile,
    exited: () => exit ?? (pidAlive(pid) === false ? { code: null, signal: 'unknown' } : null),
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
