import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { waitUntil } from './wait-until.js';

let built: string | undefined;

/**
 * Compiles the current sources once per test file; returns the path of main.js. The folder is inside the
 * project, so that Node finds node_modules and package.json's `"type": "module"` from it.
 */
export function buildOnce(): string {
  if (!built) {
    mkdirSync('test-output', { recursive: true });
    const outDir = mkdtempSync(path.resolve('test-output', 'build-'));
    execFileSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', outDir],
      {
        stdio: 'inherit',
      },
    );
    built = path.join(outDir, 'main.js');
  }
  return built;
}

/** Removes what buildOnce() compiled (call it in afterAll). */
export function removeBuild(): void {
  if (built) rmSync(path.dirname(built), { recursive: true, force: true });
  built = undefined;
}

export interface ChildApp {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs the built service as a real process, as `node dist/main.js` runs in production (`nodeArgs` before main.js). */
export function spawnApp(main: string, env: Record<string, string>, nodeArgs: string[] = []): ChildApp {
  const child = spawn(process.execPath, [...nodeArgs, main], {
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
