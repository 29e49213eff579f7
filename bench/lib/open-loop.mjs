// An open-loop load: POSTs sent at a set rate whatever the server does. A closed loop (autocannon, sendEvents with
// a concurrency) sends the next request only once one was answered: a server that slows down slows the load down
// with it, and its latency hides in the rate that was not reached. Here request i is due at t0 + i / rate; a
// request that finds every connection busy waits at most `graceMs` for one, then is not sent and is counted as
// missed: the server did not keep up with that rate. The wait counts in its latency.
import http from 'node:http';
import { nowMs, percentiles, postEvent, round, sleep } from './util.mjs';

/** What became of request i (`outcomes[i]`). */
export const OUTCOME = { missed: 0, ok: 1, non2xx: 2, error: 3 };

/**
 * POSTs `rate` × `seconds` bodies of `makeBody(i)` to /api/events, over at most `connections` keep-alive
 * connections. Latencies count from each request's due time, so that a request that waited for a connection
 * shows it. Bounded: the schedule ends after `seconds`, and answers are waited for `timeoutMs` more at most.
 * @returns the counts, the latency percentiles and `outcomes` (a Uint8Array of OUTCOME by request index)
 */
export async function openLoop({ port, rate, seconds, connections = 20, makeBody, graceMs = 100, timeoutMs = 5000 }) {
  const total = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const outcomes = new Uint8Array(total);
  const latencies = new Float64Array(total);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const statuses = {};
  const errors = {};
  let latencyCount = 0;
  let next = 0;
  let sent = 0;
  let missed = 0;
  let busy = 0;
  let ok = 0;
  let wake = null;
  const t0 = nowMs();
  const dueAt = (i) => t0 + i * interval;

  const send = (i) => {
    busy++;
    sent++;
    void postEvent(port, makeBody(i), { agent, timeoutMs }).then((res) => {
      busy--;
      if (res.status >= 200 && res.status < 300) {
        ok++;
        outcomes[i] = OUTCOME.ok;
        latencies[latencyCount++] = nowMs() - dueAt(i);
      } else if (res.status) {
        outcomes[i] = OUTCOME.non2xx;
      } else {
        outcomes[i] = OUTCOME.error;
      }
      if (res.status) statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      else errors[res.error] = (errors[res.error] ?? 0) + 1;
      wake?.();
    });
  };

  while (next < total) {
    const now = nowMs();
    const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
    while (next < due && busy < connections) send(next++);
    while (next < due && now - dueAt(next) > graceMs) {
      next++;
      missed++;
    }
    if (next >= total) break;
    // Every connection busy: until one is free (or 1 ms); else until the next request is due.
    const waitMs = next < due ? 1 : Math.max(0, dueAt(next) - nowMs());
    await new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, Math.floor(waitMs)));
      function done() {
        wake = null;
        clearTimeout(timer);
        resolve();
      }
      if (next < due) wake = done;
    });
  }
  const sendS = (nowMs() - t0) / 1000;
  const end = nowMs() + timeoutMs + 1000;
  while (busy > 0 && nowMs() < end) await sleep(10);
  agent.destroy();
  const non2xx = Object.entries(statuses).reduce((sum, [s, n]) => sum + (s >= 200 && s < 300 ? 0 : n), 0);
  return {
    target_rate: rate,
    seconds,
    scheduled: total,
    sent,
    missed,
    ok,
    non2xx,
    statuses,
    errors,
    unanswered: busy,
    send_s: round(sendS),
    ok_per_s: round(ok / seconds, 1),
    ok_share: round(ok / total, 4),
    post_latency_ms: percentiles(latencies.subarray(0, latencyCount)),
    outcomes,
  };
}
