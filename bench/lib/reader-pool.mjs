// SSE readers in worker threads, so that receiving (up to 200,000 events/s at 1,000 readers) does not stall the
// POST sender in the main thread. End-to-end latency: each event carries its send time `t_us` (process.hrtime,
// CLOCK_MONOTONIC, shared by every thread and process of the machine); the reader subtracts it on receipt.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SseReader } from './sse-reader.mjs';
import { sleep } from './util.mjs';

const ROLE = 'bench-reader-pool';

/** The readers of one worker thread. Counts the events of the current phase and their latencies. */
class Pool {
  constructor(port) {
    this.port = port;
    this.readers = [];
    this.token = null;
    this.latencies = new Float64Array(1 << 16);
    this.latencyCount = 0;
    this.connectErrors = 0;
    this.connectErrorSample = null;
    this.onEvent = (reader, data, tUs) => {
      if (this.token !== null && data.includes(this.token)) {
        // A reader that follows one session counts that session's events only: a server that does not filter
        // (the Go original) sends it the others too.
        if (reader.session && !data.includes(reader.session)) {
          reader.foreign++;
          return;
        }
        reader.count++;
        const i = data.lastIndexOf('"t_us":');
        if (i >= 0) this.pushLatency((tUs - parseInt(data.slice(i + 7, i + 30), 10)) / 1000);
      } else if (data.includes('"bench_probe"')) {
        reader.probeSeen = true;
      }
    };
  }

  pushLatency(ms) {
    if (this.latencyCount === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.latencyCount++] = ms;
  }

  /**
   * Opens `n` more readers, at most `concurrency` connecting at a time. With `session`, reader i follows one
   * session, `/events?session_id=<prefix><first + i>`.
   */
  async connect(n, { concurrency = 100, timeoutMs = 15000, session = null } = {}) {
    let started = 0;
    const lane = async () => {
      while (started < n) {
        const index = session ? session.first + started : null;
        started++;
        const id = session ? `${session.prefix}${index}` : null;
        const reader = new SseReader({
          port: this.port,
          path: id ? `/events?session_id=${encodeURIComponent(id)}` : '/events',
          onEvent: this.onEvent,
        });
        // Quoted, as it appears in the event's JSON: "s-1" is not found in "s-12".
        reader.session = id && JSON.stringify(id);
        reader.index = index;
        reader.foreign = 0;
        this.readers.push(reader);
        try {
          await reader.connect(timeoutMs);
        } catch (err) {
          this.connectErrors++;
          this.connectErrorSample ??= err.code || err.message;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
    return this.summary();
  }

  /** Starts counting the events that contain `token`, from zero. */
  setPhase(token) {
    this.token = token;
    this.latencyCount = 0;
    for (const reader of this.readers) {
      reader.count = 0;
      reader.foreign = 0;
    }
  }

  summary() {
    const out = { readers: this.readers.length, open: 0, ok: 0, probeSeen: 0, closedByServer: 0, statuses: {} };
    // cutOff: streams the server ended after it had opened them (not a refusal); foreign: events of other sessions.
    Object.assign(out, { cutOff: 0, foreign: 0, waiting: 0 });
    for (const r of this.readers) {
      if (!r.closed) out.open++;
      if (r.status) out.statuses[r.status] = (out.statuses[r.status] ?? 0) + 1;
      if (r.status === 200 && !r.closed) out.ok++;
      if (r.probeSeen && !r.closed) out.probeSeen++;
      if (r.closedByServer) out.closedByServer++;
      if (r.closedByServer && r.status === 200) out.cutOff++;
      // Open, but neither headers nor an event yet (a server that holds its headers until the first event).
      if (!r.closed && !r.status && !r.probeSeen) out.waiting++;
      out.foreign += r.foreign ?? 0;
    }
    out.connectErrors = this.connectErrors;
    out.connectErrorSample = this.connectErrorSample;
    return out;
  }

  async closeAll() {
    for (const reader of this.readers) reader.destroy();
    this.readers = [];
    this.connectErrors = 0;
    this.connectErrorSample = null;
    await sleep(50);
  }
}

if (!isMainThread && workerData?.role === ROLE) {
  const pool = new Pool(workerData.port);
  parentPort.on('message', async ({ id, cmd, args }) => {
    try {
      let result;
      switch (cmd) {
        case 'connect':
          result = await pool.connect(args.n, args.options);
          break;
        case 'setPhase':
          result = pool.setPhase(args.token);
          break;
        case 'summary':
          result = pool.summary();
          break;
        case 'counts':
          result = pool.readers.map((r) => r.count);
          break;
        case 'sessionCounts':
          result = pool.readers.filter((r) => r.index != null).map((r) => [r.index, r.count, r.status, r.closed]);
          break;
        case 'latencies': {
          const copy = pool.latencies.slice(0, pool.latencyCount);
          parentPort.postMessage({ id, result: copy }, [copy.buffer]);
          return;
        }
        case 'closeAll':
          result = await pool.closeAll();
          break;
        default:
          throw new Error(`unknown command ${cmd}`);
      }
      parentPort.postMessage({ id, result });
    } catch (err) {
      parentPort.postMessage({ id, error: String(err?.stack ?? err) });
    }
  });
}

/** Main-thread handle on readers spread over `threads` worker threads. */
export class ReaderPool {
  constructor(port, threads = 1) {
    this.workers = Array.from({ length: Math.max(1, threads) }, () => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE, port } });
      const pending = new Map();
      worker.on('message', ({ id, result, error }) => {
        const call = pending.get(id);
        pending.delete(id);
        if (error) call?.reject(new Error(error));
        else call?.resolve(result);
      });
      worker.on('error', (err) => {
        for (const call of pending.values()) call.reject(err);
        pending.clear();
      });
      return { worker, pending, seq: 0 };
    });
  }

  call(i, cmd, args = {}) {
    const w = this.workers[i];
    const id = ++w.seq;
    return new Promise((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.worker.postMessage({ id, cmd, args });
    });
  }

  all(cmd, args) {
    return Promise.all(this.workers.map((_, i) => this.call(i, cmd, args)));
  }

  /** `n` more readers over the threads; with `options.session`, reader i follows session `first + i` (connect). */
  async connect(n, options = {}) {
    const k = this.workers.length;
    const concurrency = Math.max(1, Math.ceil((options.concurrency ?? 100) / k));
    let first = options.session?.first ?? 0;
    await Promise.all(
      this.workers.map((_, i) => {
        const share = Math.floor(n / k) + (i < n % k ? 1 : 0);
        const session = options.session && { ...options.session, first };
        first += share;
        return share ? this.call(i, 'connect', { n: share, options: { ...options, concurrency, session } }) : null;
      }),
    );
    return this.summary();
  }

  async setPhase(token) {
    await this.all('setPhase', { token });
  }

  async summary() {
    const parts = await this.all('summary');
    const keys = ['readers', 'open', 'ok', 'probeSeen', 'closedByServer', 'cutOff', 'foreign', 'waiting'];
    const out = { connectErrors: 0, statuses: {} };
    for (const key of keys) out[key] = 0;
    for (const p of parts) {
      for (const key of [...keys, 'connectErrors']) out[key] += p[key];
      out.connectErrorSample ??= p.connectErrorSample ?? undefined;
      for (const [status, count] of Object.entries(p.statuses))
        out.statuses[status] = (out.statuses[status] ?? 0) + count;
    }
    return out;
  }

  /** Events of the current phase received by each reader. */
  async counts() {
    return (await this.all('counts')).flat();
  }

  /** Readers that follow a session: `[session index, events of the phase, status, closed]` each. */
  async sessionCounts() {
    return (await this.all('sessionCounts')).flat();
  }

  /** End-to-end latencies (ms) of the current phase, all readers together. */
  async latencies() {
    const parts = await this.all('latencies');
    const out = new Float64Array(parts.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  async closeAll() {
    await this.all('closeAll');
  }

  async terminate() {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
