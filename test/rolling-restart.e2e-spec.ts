import http from 'node:http';
import { postOn, request } from './support/http.js';
import { spawnApp, waitUntilListening, type ChildApp } from './support/child-app.js';
import { waitUntil } from './support/wait-until.js';
import { describeWithNginx, Nginx } from './support/nginx.js';
import { freePort } from './support/free-port.js';
import { describeWithRedis, RedisServer } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keep-alive clients, CLIENTS × 1000 / PERIOD_MS POSTs per second in all: 400/s. */
const CLIENTS = 8;
const PERIOD_MS = 20;

/** Steady POSTs through nginx from keep-alive clients until stop(); every answer other than 204 is a failure. */
class SteadyLoad {
  sent = 0;
  /** `client-n` of every event answered 204. */
  readonly accepted = new Set<string>();
  readonly failures = new Map<string, number>();
  private stopping = false;
  private readonly agents = Array.from({ length: CLIENTS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  private readonly done: Promise<void[]>;

  constructor(private readonly url: string) {
    this.done = Promise.all(this.agents.map((agent, i) => this.client(agent, i)));
  }

  get failed(): number {
    return [...this.failures.values()].reduce((a, b) => a + b, 0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
    for (const agent of this.agents) agent.destroy();
  }

  private async client(agent: http.Agent, i: number): Promise<void> {
    const started = performance.now() + (i * PERIOD_MS) / CLIENTS;
    // Bounded whatever happens: at most two minutes.
    for (let k = 0; !this.stopping && k < 120_000 / PERIOD_MS; k++) {
      const wait = started + k * PERIOD_MS - performance.now();
      if (wait > 0) await sleep(wait);
      this.sent++;
      let outcome: string;
      try {
        const res = await postOn(agent, this.url, { event_name: 'LOAD', session_id: `client-${i}`, n: k });
        outcome = String(res.status);
      } catch (err) {
        outcome = (err as NodeJS.ErrnoException).code ?? String(err);
      }
      if (outcome === '204') this.accepted.add(`${i}-${k}`);
      else this.failures.set(outcome, (this.failures.get(outcome) ?? 0) + 1);
    }
  }
}

/** A stream reader through nginx that reconnects by itself when its stream ends, as EventSource does. */
class ReconnectingReader {
  events = 0;
  connections = 0;
  private current?: SseClient;
  private stopped = false;

  constructor(private readonly url: string) {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.current?.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const reader = new SseClient(`${this.url}/events`);
      this.current = reader;
      try {
        await reader.connect();
        if (reader.status === 200) {
          this.connections++;
          let counted = 0;
          await reader.waitFor(
            (c) => {
              this.events += c.events.length - counted;
              counted = c.events.length;
              return c.ended || this.stopped;
            },
            120_000,
            'the end of the stream',
          );
        }
      } catch {
        // refused or reset: try again, as EventSource does
      }
      reader.close();
      if (!this.stopped) await sleep(200);
    }
  }
}

interface Instance {
  app: ChildApp;
  port: number;
}

describeWithNginx('rolling restart behind nginx', () => {
  describeWithRedis('two instances joined by Redis, keep-alive upstreams as in deploy/nginx.conf', () => {
    let redis: RedisServer;
    let nginx: Nginx | undefined;
    const children: ChildApp[] = [];

    beforeAll(async () => {
      redis = await RedisServer.start();
    });

    afterAll(async () => {
      for (const { child } of children) child.kill('SIGKILL');
      await nginx?.stop();
      await redis?.stop();
    });

    const startInstance = async (port: number): Promise<Instance> => {
      const app = spawnApp({
        PORT: String(port),
        REDIS_URL: redis.url,
        REDIS_CHANNEL: 'rolling-restart',
        SHUTDOWN_DRAIN_MS: '2000',
        LOG_LEVEL: 'warn',
      });
      children.push(app);
      await waitUntilListening(port);
      // Ready, and joined to the others through Redis.
      await waitUntil(async () => (await request(`http://127.0.0.1:${port}/health`)).status === 200, 10_000, 'Redis');
      return { app, port };
    };

    it('loses no POST at 400/s while each instance restarts in turn; streams resume by themselves', async () => {
      const ports = [await freePort(), await freePort()];
      const instances = await Promise.all(ports.map(startInstance));
      nginx = await Nginx.start(await freePort(), await freePort(), ports);
      // A third instance, not behind nginx and never restarted: every event answered 204 must reach its reader.
      const witness = await startInstance(await freePort());
      const witnessReader = await new SseClient(`http://127.0.0.1:${witness.port}/events`).connect();
      await witnessReader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      const readers = [new ReconnectingReader(nginx.url), new ReconnectingReader(nginx.url)];
      await waitUntil(() => readers.every((r) => r.connections > 0), 5000, 'the readers to connect');
      const load = new SteadyLoad(nginx.url);
      const exitCodes: Array<number | null> = [];
      try {
        // Load for a second before, between and after the restarts.
        await sleep(1000);
        for (let i = 0; i < instances.length; i++) {
          const { app, port } = instances[i];
          app.child.kill('SIGTERM');
          exitCodes.push(await app.exited);
          instances[i] = await startInstance(port);
          await sleep(1000);
        }
        const before = readers.map((r) => r.events);
        await sleep(1000);
        await load.stop();
        const received = () =>
          new Set(
            witnessReader
              .json<{ session_id: string; n: number }>()
              .map((e) => `${e.session_id.replace('client-', '')}-${e.n}`),
          );
        // The last ones may still be on their way.
        await waitUntil(() => witnessReader.events.length >= load.accepted.size, 3000, 'the last events').catch(
          () => undefined,
        );
        const seen = received();
        const summary = {
          exitCodes,
          sent: load.sent,
          failed: load.failed,
          failures: Object.fromEntries(load.failures),
          acceptedButNotBroadcast: [...load.accepted].filter((id) => !seen.has(id)).length,
          readers: readers.map((r, i) => ({ connections: r.connections, eventsAfterRestarts: r.events - before[i] })),
          // What nginx said about the failed ones.
          nginxErrors: nginx
            .errorLog()
            .split('\n')
            .filter((l) => / \[(error|crit)\] /.test(l) && !/connect\(\) failed/.test(l))
            .map((l) => l.replace(/^.*\[error\] \S+ \*\d+ /, '').replace(/, client.*request: "([A-Z]+ \S+).*$/, ' $1')),
        };
        // The figures of the run, for the record (docs/operations.md quotes them).
        console.log(`rolling restart: ${JSON.stringify(summary)}`);
        expect(exitCodes).toEqual([0, 0]);
        expect(load.sent).toBeGreaterThan(2000);
        expect(summary.failures).toEqual({});
        expect(summary.acceptedButNotBroadcast).toBe(0);
        for (const reader of summary.readers) {
          // Each reader's instance went away once at least: it reconnected, and gets events again.
          expect(reader.connections).toBeGreaterThanOrEqual(2);
          expect(reader.eventsAfterRestarts).toBeGreaterThan(100);
        }
      } finally {
        await load.stop();
        for (const reader of readers) reader.stop();
        witnessReader.close();
      }
    }, 90_000);
  });
});
