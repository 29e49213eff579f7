import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './wait-until.js';

/** The project's root, where `npm start` runs. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildApp {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs the build (dist/, made once per test run by global-setup.mjs) as a real process, started as `npm start`
 * and the image start it: scripts/start.sh, which execs node, so that `child` is the service itself.
 */
export function spawnApp(env: Record<string, string>): ChildApp {
  const child = spawn('sh', ['scripts/start.sh'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits until the process answers GET /health/live. */
export async function waitUntilListening(port: number, timeoutMs = 15000): Promise<void> {
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).ok,
    timeoutMs,
    `the process to listen on ${port}`,
  );
}
