// The server's CPU time per event at a set rate, the figure that decides what one CPU-bound task (an ECS task with
// a CPU quota) takes: steadier than a throughput on a shared machine, since it does not depend on what else runs.
import { openLoop } from './open-loop.mjs';
import { ReaderPool } from './reader-pool.mjs';
import { register } from './load.mjs';
import { cpuSeconds, heartbeat, log, round } from './util.mjs';

/**
 * --cost-rate POSTs per second of 600-byte heartbeats (20 keep-alive connections, open loop) to a server with
 * 2 readers: --cost-seconds of warm-up, not measured (the JIT compiles meanwhile), then --cost-seconds measured:
 * the server's CPU (user + system) per accepted event.
 */
export async function cost({ server, settings }) {
  const { port, pid } = server;
  const { costRate: rate, costSeconds: seconds } = settings;
  const pool = new ReaderPool(port, 1);
  try {
    await pool.connect(2);
    await register(port, pool);
    const makeBody = (i) => JSON.stringify(heartbeat({ n: i }));
    log(`[cost] warm-up: ${rate} POSTs/s for ${seconds} s`);
    await openLoop({ port, rate, seconds, makeBody });
    log(`[cost] measured: ${rate} POSTs/s for ${seconds} s`);
    const cpu0 = cpuSeconds(pid);
    const run = await openLoop({ port, rate, seconds, makeBody });
    const cpu = cpuSeconds(pid) - cpu0;
    const usPerEvent = run.ok ? round((cpu * 1e6) / run.ok, 1) : null;
    const result = {
      rate,
      seconds,
      ok: run.ok,
      missed: run.missed,
      cpu_s: round(cpu, 2),
      cpu_us_per_event: usPerEvent,
    };
    result.metrics = { 'CPU per event (µs)': usPerEvent };
    result.main_metrics = ['CPU per event (µs)'];
    const rows = [
      ['CPU per event (µs)', String(usPerEvent)],
      ['2xx / missed of sent', `${run.ok} / ${run.missed} of ${Math.round(rate * seconds)}`],
      ['POST latency p50 / p99', `${run.post_latency_ms?.p50} ms / ${run.post_latency_ms?.p99} ms`],
    ];
    log(`  ${usPerEvent} µs of CPU per event`);
    return { result, rows };
  } finally {
    await pool.closeAll().catch(() => {});
    await pool.terminate();
  }
}
