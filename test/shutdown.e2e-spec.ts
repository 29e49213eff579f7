import http from 'node:http';
import net from 'node:net';
import { postEvent, postOn, request, startPost, type HttpResult } from './support/http.js';
import { spawnApp, waitUntilListening, type ChildApp } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { waitUntil } from './support/wait-until.js';
import { describeWithRedis, RedisServer } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';

/** Whether a new connection to `port` is refused: the listener has closed. */
async function refused(port: number): Promise<boolean> {
  try {
    await request(`http://127.0.0.1:${port}/health/live`);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until readiness answers 503 while the listener is still open: the drain has begun. */
async function waitForDrain(port: number): Promise<void> {
  const status = () =>
    request(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
  await waitUntil(async () => (await status()) === 503, 5000, 'readiness to answer 503 (the drain)');
}

describe('shutdown of the service as a process', () => {
  const apps: ChildApp[] = [];

  afterAll(() => {
    for (const { child } of apps) child.kill('SIGKILL');
  });

  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), ...env });
    apps.push(app);
    await waitUntilListening(port);
    return { app, port, url: `http://127.0.0.1:${port}` };
  };

  it('on SIGTERM: drains (not ready, still serving with Connection: close), then closes; every 204 reached the stream; exit 0', async () => {
    const { app, port, url } = await start({ SHUTDOWN_DRAIN_MS: '1500', SHUTDOWN_TIMEOUT_MS: '5000' });
    const reader = await new SseClient(`${url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    // The connection ends with the stream: no proxy may reuse it once the stream has ended (see the rolling restart).
    expect(reader.headers.connection).toBe('close');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const accepted: number[] = [];
    const post = async (n: number): Promise<HttpResult> => {
      const res = await postOn(agent, url, { n });
      if (res.status === 204) accepted.push(n);
      return res;
    };
    try {
      expect((await post(0)).headers.connection).toBe('keep-alive');
      // In flight when SIGTERM comes: its body is not complete yet.
      const inFlight = startPost(url, { n: 1 });
      await sleep(300);

      app.child.kill('SIGTERM');
      await waitForDrain(port);
      const first = await inFlight.finish();
      expect([first.status, first.headers.connection]).toEqual([204, 'close']);
      accepted.push(1);
      const during: HttpResult[] = [];
      for (let n = 2; n < 12; n++) during.push(await post(n));
      expect(during.map((r) => [r.status, r.headers.connection])).toEqual(during.map(() => [204, 'close']));
      const ready = await request(`${url}/health/ready`);
      expect([ready.status, ready.headers.connection]).toEqual([503, 'close']);
      const live = await request(`${url}/health/live`);
      expect([live.status, live.headers.connection]).toEqual([200, 'close']);
      expect(reader.ended).toBe(false);

      // Started during the drain, answered after the listener closed: the stream still gets its event.
      const late = startPost(url, { n: 12 });
      await waitUntil(() => refused(port), 5000, 'the listener to close');
      const lateAnswer = await late.finish();
      expect(lateAnswer.status).toBe(204);
      accepted.push(12);

      await reader.waitForEnd(5000);
      expect(await app.exited).toBe(0);
      expect(accepted).toHaveLength(13);
      expect(reader.json().map((e) => e.n)).toEqual(accepted);
      expect(app.output()).not.toMatch(/Shutdown took longer/);
    } finally {
      agent.destroy();
    }
  }, 20_000);

  it('a second SIGTERM during the drain skips the rest of it: streams end, exit 0 at once', async () => {
    const { app, port, url } = await start({ SHUTDOWN_DRAIN_MS: '60000', SHUTDOWN_TIMEOUT_MS: '5000' });
    const reader = await new SseClient(`${url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');

    app.child.kill('SIGTERM');
    await waitForDrain(port);
    // Still draining: the first signal alone closes nothing for a minute, and events still flow.
    expect((await postEvent(url, { during: 'drain' })).status).toBe(204);
    await reader.waitForEvents(1);
    expect(reader.ended).toBe(false);
    expect(await refused(port)).toBe(false);

    const again = Date.now();
    app.child.kill('SIGTERM');
    await reader.waitForEnd(3000);
    expect(await app.exited).toBe(0);
    expect(Date.now() - again).toBeLessThan(3000);
    expect(app.output()).toMatch(/SIGTERM again: skipping the rest of the drain/);
  }, 20_000);
  it('is not held by connections that carry no request, nor by a stream opened as /EVENTS: streams end, exit 0', async () => {
    const { app, port, url } = await start({ SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '8000' });
    const reader = await new SseClient(`${url}/EVENTS`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    const silent = net.connect(port, '127.0.0.1');
    const partial = net.connect(port, '127.0.0.1');
    for (const socket of [silent, partial]) {
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
    partial.write('POST /api/events HTTP/1.1\r\nHost: x\r\n');
    const closed = (socket: net.Socket) => new Promise((resolve) => socket.once('close', resolve));
    const both = Promise.all([closed(silent), closed(partial)]);

    const signalled = Date.now();
    app.child.kill('SIGTERM');
    await both;
    await reader.waitForEnd(5000);
    expect(await app.exited).toBe(0);
    // Well within SHUTDOWN_TIMEOUT_MS, which would end in exit 1.
    expect(Date.now() - signalled).toBeLessThan(5000);
  }, 20_000);

  it('gives no 204 for an event that reaches no stream, with 20 keep-alive clients posting across the close', async () => {
    const { app, url } = await start({ SHUTDOWN_DRAIN_MS: '500', SHUTDOWN_TIMEOUT_MS: '5000' });
    const reader = await new SseClient(`${url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const accepted: number[] = [];
    let next = 0;
    let stopped = false;
    void app.exited.then(() => (stopped = true));
    const client = async () => {
      while (!stopped) {
        const n = next++;
        const status = await postOn(agent, url, { n }).then(
          (res) => res.status,
          () => 0,
        );
        if (status === 204) accepted.push(n);
        else if (status === 0) await sleep(10);
      }
    };
    const clients = Array.from({ length: 20 }, client);
    await sleep(300);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    await Promise.all(clients);
    agent.destroy();
    const seen = new Set(reader.json().map((event) => event.n));
    // Accepted up to the end, and each of them written to the stream before it ended.
    expect(accepted.length).toBeGreaterThan(100);
    expect(accepted.filter((n) => !seen.has(n))).toEqual([]);
  }, 20_000);
});

describeWithRedis('shutdown with the Redis backplane', () => {
  let redis: RedisServer;
  const apps: ChildApp[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 120_000);

  afterAll(async () => {
    for (const { child } of apps) child.kill('SIGKILL');
    await redis?.stop();
  });

  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), REDIS_URL: redis.url, REDIS_CHANNEL: 'shutdown-test', ...env });
    apps.push(app);
    await waitUntilListening(port);
    await waitUntil(async () => (await request(`http://127.0.0.1:${port}/health`)).status === 200, 10_000, 'Redis');
    return { app, port, url: `http://127.0.0.1:${port}` };
  };

  it('answers the requests that arrive while it starts once its backplane is up: the first 204 reaches the other instances', async () => {
    // Redis behind a relay that holds each new connection for a second, as a Redis that is slow to reach.
    const relay = net.createServer((client) => {
      const timer = setTimeout(() => {
        const upstream = net.connect(redis.port, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      }, 1000);
      client.on('error', () => undefined);
      client.on('close', () => clearTimeout(timer));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const b = await start({});
      const reader = await new SseClient(`${b.url}/events`).connect();
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      const port = await freePort();
      const { port: relayPort } = relay.address() as net.AddressInfo;
      const app = spawnApp({
        PORT: String(port),
        REDIS_URL: `redis://127.0.0.1:${relayPort}`,
        REDIS_CHANNEL: 'shutdown-test',
      });
      apps.push(app);
      // The first POST that gets through, sent as soon as the port takes connections (they may wait there while
      // the instance starts, but must not hang).
      const noAnswer = (ms: number) =>
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms));
      let first: HttpResult | undefined;
      await waitUntil(
        async () => {
          const attempt = postOn(new http.Agent(), `http://127.0.0.1:${port}`, { first: true });
          first = await Promise.race([attempt.catch(() => undefined), noAnswer(10_000)]);
          return first !== undefined;
        },
        15_000,
        'A to answer',
      );
      expect(first?.status).toBe(204);
      await reader.waitForEvents(1, 3000);
      expect(reader.json()).toEqual([{ first: true, user_ip: '127.0.0.1' }]);
      reader.close();
    } finally {
      relay.close();
    }
  }, 30_000);

  it("events POSTed to A during A's drain and close reach the readers on B", async () => {
    const env = { SHUTDOWN_DRAIN_MS: '1500', SHUTDOWN_TIMEOUT_MS: '5000' };
    const [a, b] = await Promise.all([start(env), start({})]);
    const reader = await new SseClient(`${b.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const accepted: number[] = [];
    try {
      expect((await postOn(agent, a.url, { n: 0 })).status).toBe(204);
      accepted.push(0);
      a.app.child.kill('SIGTERM');
      await waitForDrain(a.port);
      for (let n = 1; n <= 10; n++) {
        const res = await postOn(agent, a.url, { n });
        expect([res.status, res.headers.connection]).toEqual([204, 'close']);
        accepted.push(n);
      }
      const late = startPost(a.url, { n: 11 });
      await waitUntil(() => refused(a.port), 5000, "A's listener to close");
      expect((await late.finish()).status).toBe(204);
      accepted.push(11);
      expect(await a.app.exited).toBe(0);
      await reader.waitForEvents(accepted.length, 3000);
      expect(reader.json().map((e) => e.n)).toEqual(accepted);
    } finally {
      agent.destroy();
      reader.close();
    }
  }, 30_000);
});
