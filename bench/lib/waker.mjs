// A process that does nothing but wake up `rate` times a second: the control side of the backplane scenario.
// On a small machine another process's wake-ups alone slow the server (redis-server wakes once per PUBLISH);
// this measures how much, without any Redis work in the server.
import { spawn } from 'node:child_process';
import { cpuSeconds, stopOnExit } from './util.mjs';

// Sleeps with Atomics.wait, which takes fractions of a millisecond (timers round to whole ones). Ends by itself
// after `maxSeconds`, or when the benchmark that started it is gone.
const WAKER = `
const [rate, maxSeconds, parent] = process.argv.slice(1).map(Number);
const cell = new Int32Array(new SharedArrayBuffer(4));
const end = performance.now() + maxSeconds * 1000;
let next = performance.now();
for (let n = 1; performance.now() < end; n++) {
  next += 1000 / rate;
  const wait = next - performance.now();
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  if (n % 1000 === 0 && process.ppid !== parent) break;
}
`;

/** Starts the waker; resolves `{ pid, cpuSeconds(), stop() }` once it runs. */
export async function startWaker(rate, maxSeconds) {
  const child = spawn(process.execPath, ['-e', WAKER, String(rate), String(maxSeconds), String(process.pid)], {
    stdio: 'ignore',
  });
  const stop = stopOnExit(child, 'SIGKILL');
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    pid: child.pid,
    cpuSeconds: () => cpuSeconds(child.pid),
    stop,
  };
}
