// A process that does nothing but wake up `rate` times a second: the control side of the backplane scenario.
// On a small machine another process's wake-ups alone slow the server (redis-server wakes once per PUBLISH);
// this measures how much, without any Redis work in the server.
import { spawn } from 'node:child_process';
import { cpuSeconds, stopOnExit } from './util.mjs';

// Sleeps with Atomics.wait, which takes fractions of a millisecond (timers round to whole ones). Ends by itself
// after `maxSeconds`, or within a second once the benchmark that started it is gone.
const WAKER = `
const [rate, maxSeconds, parent] = process.argv.slice(1).map(Number);
const cell = new Int32Array(new SharedArrayBuffer(4));
const end = performance.now() + maxSeconds * 1000;
// A rate of 0 (the side with Redis sent nothing): no wake-ups but the checks, once a second.
const period = rate > 0 ? 1000 / rate : 1000;
let next = performance.now();
let check = next + 1000;
while (performance.now() < end) {
  next += period;
  const wait = Math.min(next - performance.now(), 1000);
  if (wait > 0) Atomics.wait(cell, 0, 0, wait);
  if (performance.now() < check) continue;
  if (process.ppid !== parent) break;
  check += 1000;
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
