// A throw-away redis-server for the benchmark: 127.0.0.1, a free port, nothing stored, stopped at the end.
import { spawn, spawnSync } from 'node:child_process';
import { freePort } from './target.mjs';
import { cpuSeconds, stopOnExit, watched } from './util.mjs';

const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN || 'redis-cli';

export function hasRedisServer() {
  return spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Starts redis-server and resolves `{ port, url, pid, cpuSeconds(), commandStats(), resetStats(), stop() }`. */
export async function startRedis() {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn(...watched(REDIS_SERVER, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = stopOnExit(child, 'SIGHUP'); // SIGHUP: SIGKILL of redis-server, through its shell (see watched)
  await new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after 10 s:\n${output}`)), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)));
    child.stderr.on('data', (c) => (output += c));
    child.stdout.on('data', (c) => {
      output += c;
      if (!output.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.stderr.resume();
      resolve();
    });
  });
  const cli = (...words) =>
    spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...words], { encoding: 'utf8' }).stdout ?? '';
  // redis-server's own pid, not the shell's: its CPU is what is measured.
  const pid = Number(/^process_id:(\d+)/m.exec(cli('INFO', 'server'))?.[1]);
  if (!pid) throw new Error(`redis-server on port ${port} did not tell its process id`);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid,
    cpuSeconds: () => cpuSeconds(pid),
    resetStats: () => cli('CONFIG', 'RESETSTAT'),
    /** INFO commandstats as `{ publish: { calls, usec } }`. */
    commandStats() {
      const out = {};
      for (const m of cli('INFO', 'commandstats').matchAll(/^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/gm)) {
        out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
      }
      return out;
    },
    stop,
  };
}
