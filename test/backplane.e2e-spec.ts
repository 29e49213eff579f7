import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { buildFrame } from '../src/events/ingest.js';
import { FORMAT_VERSION, RedisMessageCodec } from '../src/backplane/redis-message.js';
import { postEvent, request } from './support/http.js';
import { sample, scrape } from './support/metrics.js';
import { waitUntil } from './support/wait-until.js';
import { logs } from './support/log-capture.js';
import { startApp, type RunningApp } from './support/app.js';
import { describeWithRedis, RedisServer } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';
import { health, post, range, reader, endWithMarkers, type Numbered } from './support/backplane.js';

async function backplaneUp(app: RunningApp): Promise<void> {
  await waitUntil(async () => (await health(app)).status === 200, 10_000, `the backplane of ${app.url}`);
}

/** The numbered events a reader got, by origin, in the order received. */
function byOrigin(client: SseClient): Record<string, number[]> {
  const result: Record<string, number[]> = {};
  for (const { origin, n } of client.json<Numbered>()) (result[origin] ??= []).push(n);
  return result;
}

/** Collects the log lines of the backplane (every app in this process logs here). */
class BackplaneLog {
  readonly lines: string[] = [];
  private add = (message: unknown, ...rest: unknown[]) => {
    if (rest.at(-1) === 'RedisBackplane') this.lines.push(String(message));
  };
  log = this.add;
  warn = this.add;
  error = this.add;
  debug = () => undefined;
  verbose = () => undefined;
  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l)).length;
  }
}

describe('backplane: one instance alone', () => {
  it('GET /health reports the local backplane as up when REDIS_URL is not set', async () => {
    const app = await startApp();
    try {
      const { status, body } = await health(app);
      expect(status).toBe(200);
      expect(body.details.backplane).toEqual({ status: 'up', mode: 'local' });
    } finally {
      await app.close();
    }
  });
});

describeWithRedis('backplane: instances joined by Redis pub/sub', () => {
  let redis: RedisServer;
  let apps: RunningApp[];
  let other: RunningApp;
  const channel = `test:${randomUUID()}`;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: `${redis.url}/0`, REDIS_CHANNEL: channel };
    apps = await Promise.all([1, 2, 3].map(() => startApp(env)));
    // Another deployment on the same Redis, on its own channel.
    other = await startApp({ REDIS_URL: redis.url, REDIS_CHANNEL: `${channel}:other` });
    await Promise.all([...apps, other].map(backplaneUp));
  });

  afterAll(async () => {
    await Promise.all([...(apps ?? []), other].filter(Boolean).map((a) => a.close()));
    await redis?.stop();
  });

  it('delivers a POST to either of two instances to the readers of both, exactly once and in order', async () => {
    const [a, b] = apps;
    const instances = [a, a, b, b];
    const readers = await Promise.all(instances.map(reader));
    const events: Array<[RunningApp, Numbered]> = [];
    for (let i = 0; i < 40; i++) {
      const origin = i % 3 === 0 ? 'b' : 'a'; // uneven, so that runs from one instance are interleaved too
      events.push([origin === 'a' ? a : b, { origin, n: events.filter(([, e]) => e.origin === origin).length }]);
    }
    for (const [app, event] of events) await post(app, { event_name: 'POS', session_id: 's', ...event });

    await Promise.all(readers.map((r) => r.waitForEvents(events.length)));
    await endWithMarkers(
      [a, b],
      readers.map((r, i) => [instances[i], r]),
    );
    const counts = { a: events.filter(([, e]) => e.origin === 'a').length, b: 0 };
    counts.b = events.length - counts.a;
    // The frame crosses Redis as it was serialized: the same bytes on every instance.
    const frames = events.map(([, e]) =>
      JSON.stringify({ event_name: 'POS', session_id: 's', ...e, user_ip: '127.0.0.1' }),
    );
    for (const r of readers) {
      expect(byOrigin(r)).toEqual({ a: range(counts.a), b: range(counts.b) });
      expect([...r.events].sort()).toEqual([...frames].sort());
      expect(r.ended).toBe(false);
      r.close();
    }
  });

  it('delivers 1,000 events posted round-robin to three instances completely, once and in order, to all', async () => {
    const instances = [...apps, ...apps];
    const readers = await Promise.all(instances.map(reader));
    const otherReader = await reader(other);
    const before = await Promise.all(apps.map(health));
    const total = 1000;
    // One sequential poster per instance, the three in parallel: event k goes to instance k % 3.
    await Promise.all(
      apps.map(async (app, i) => {
        for (let k = i; k < total; k += 3) await post(app, { event_name: 'RR', origin: `i${i}`, n: (k - i) / 3 });
      }),
    );
    await Promise.all(readers.map((r) => r.waitForEvents(total, 15_000)));
    await endWithMarkers(
      apps,
      readers.map((r, i) => [instances[i], r]),
    );
    const expected = { i0: range(334), i1: range(333), i2: range(333) };
    for (const r of readers) {
      expect(byOrigin(r)).toEqual(expected);
      r.close();
    }
    // Each instance published its own third and received the other two thirds, each event once.
    const after = await Promise.all(apps.map(health));
    apps.forEach((_, i) => {
      const was = before[i].body.details.backplane as Record<string, number>;
      const now = after[i].body.details.backplane as Record<string, number>;
      const own = i === 0 ? 334 : 333;
      // And one marker each (see endWithMarkers).
      expect(now.published - was.published).toBe(own + 1);
      expect(now.received - was.received).toBe(total - own + 2);
      expect(now.dropped).toBe(0);
    });
    // The deployment on another channel saw none of it.
    expect(otherReader.events).toEqual([]);
    otherReader.close();
  });

  it("carries the events an instance accepts in one turn in one PUBLISH, each once and in the instance's order", async () => {
    const [a, b] = apps;
    const [readerA, readerB] = await Promise.all([reader(a), reader(b)]);
    const client = new Redis(redis.url);
    const publishes = async () =>
      Number(/cmdstat_publish:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    const total = 100;
    try {
      const before = await publishes();
      // 100 POSTs pipelined on one connection, in one write: instance A reads and accepts them in one turn.
      const requests = range(total).map((n) => {
        const body = JSON.stringify({ event_name: 'BURST', origin: 'a', n });
        return `POST /api/events HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      });
      const socket = net.connect(a.port, '127.0.0.1');
      let answers = '';
      socket.on('data', (chunk: Buffer) => (answers += chunk.toString()));
      socket.write(requests.join(''));
      await waitUntil(() => answers.split('HTTP/1.1 204').length - 1 === total, 10_000, `${total} answers 204`);
      socket.destroy();
      await Promise.all([readerA, readerB].map((r) => r.waitForEvents(total, 10_000)));
      const sent = (await publishes()) - before;
      await endWithMarkers(
        [a, b],
        [
          [a, readerA],
          [b, readerB],
        ],
      );
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThanOrEqual(total / 10);
      // Each event once, in the order A accepted them, on both instances.
      expect(readerB.json<Numbered>().map((e) => e.n)).toEqual(range(total));
      expect(readerA.json<Numbered>().map((e) => e.n)).toEqual(range(total));
    } finally {
      client.disconnect();
      readerA.close();
      readerB.close();
    }
  });

  it('exports pillarbox_backplane_{published,received,errors}_total on /metrics', async () => {
    const [a, b] = apps;
    const counters = async (app: RunningApp) => {
      const samples = await scrape(app.url);
      return ['published_total', 'received_total', 'errors_total{reason="foreign"}'].map((name) =>
        sample(samples, `pillarbox_backplane_${name}`),
      );
    };
    const [beforeA, beforeB] = await Promise.all([counters(a), counters(b)]);
    const readerB = await reader(b);
    for (let n = 0; n < 5; n++) await post(a, { event_name: 'COUNTED', origin: 'a', n });
    await readerB.waitForEvents(5);
    readerB.close();
    const client = new Redis(redis.url);
    try {
      await client.publish(channel, 'not an event');
    } finally {
      client.disconnect();
    }
    // Each instance counts on its own: the publishes' confirmations and the ignored message may lag the reader.
    const counted = (app: RunningApp, before: number[], delta: number[]) =>
      waitUntil(
        async () => (await counters(app)).every((value, i) => value === before[i] + delta[i]),
        5000,
        `the backplane counters of ${app.url}`,
      );
    await counted(a, beforeA, [5, 0, 1]);
    await counted(b, beforeB, [0, 5, 1]);
  });

  it('delivers the messages of the next format version, as a newer build writes them during an upgrade', async () => {
    const readers = await Promise.all(apps.map(reader));
    const client = new Redis(redis.url);
    try {
      // A build of version N+1: its own origin, an element added at the end of the header, the same frame.
      const frame = 'data: {"event_name":"FROM_NEXT","user_ip":"10.9.8.7"}\n\n';
      const header = JSON.stringify(['FROM_NEXT', null, { added: 'in the next version' }]);
      await client.publish(channel, `${FORMAT_VERSION + 1}:NNNNNNNNNNNNNNNN\n${header}\n${frame}`);
      for (const r of readers) {
        await r.waitForEvents(1);
        expect(r.events).toEqual(['{"event_name":"FROM_NEXT","user_ip":"10.9.8.7"}']);
        r.close();
      }
    } finally {
      client.disconnect();
    }
  });

  it('keeps anything on the channel that is not a well-formed event from the readers', async () => {
    const readers = await Promise.all(apps.map(reader));
    const before = (await health(apps[0])).body.details.backplane.ignored as number;
    const client = new Redis(redis.url);
    try {
      const stranger = new RedisMessageCodec();
      const valid = stranger.encode([buildFrame(Buffer.from('{"event_name":"FROM_ELSEWHERE"}'), '10.1.2.3')]);
      await client.publish(channel, 'hello');
      await client.publish(channel, Buffer.concat([valid, Buffer.from('data: {"injected":true}\n\n')]));
      await client.publish(channel, valid);
      for (const r of readers) {
        // The valid message came after the others on one connection: they would have arrived before it.
        await r.waitForEvents(1);
        expect(r.events).toEqual(['{"event_name":"FROM_ELSEWHERE","user_ip":"10.1.2.3"}']);
        r.close();
      }
      expect((await health(apps[0])).body.details.backplane.ignored).toBe(before + 2);
    } finally {
      client.disconnect();
    }
  });
});

describeWithRedis('backplane: Redis failures', () => {
  const log = new BackplaneLog();
  const channel = `test:${randomUUID()}`;
  const started: RunningApp[] = [];
  const servers: RedisServer[] = [];

  const start = async (url: string) => {
    // PINGs every second rather than every 5: a hung Redis is noticed within 2 s.
    const app = await startApp(
      { REDIS_URL: url, REDIS_CHANNEL: channel },
      { logger: log, timings: { redisPingIntervalMs: 1000 } },
    );
    started.push(app);
    return app;
  };

  afterAll(async () => {
    await Promise.all(started.map((a) => a.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('keeps serving while Redis is killed, and shares events again once it is back on the same port', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const [a, b] = [await start(redis.url), await start(redis.url)];
    await Promise.all([a, b].map(backplaneUp));
    const [readerA, readerB] = await Promise.all([reader(a), reader(b)]);

    // A stream of events to A, during which Redis is killed without warning.
    let stop = false;
    const statuses: number[] = [];
    let sent = 0;
    const stream = (async () => {
      for (; !stop && sent < 1000; sent++) {
        statuses.push((await postEvent(a.url, { event_name: 'STREAM', origin: 'stream', n: sent })).status);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await readerB.waitFor((c) => c.events.length >= 10, 5000, 'the stream on B');
    await redis.kill('SIGKILL');
    await waitUntil(async () => (await health(a)).status === 503, 5000, 'GET /health on A to report the outage');
    await new Promise((r) => setTimeout(r, 300)); // the stream goes on while Redis is away
    stop = true;
    await stream;
    // Every POST was accepted, and A's own readers got every event, in order, Redis or not.
    expect(statuses.every((s) => s === 204)).toBe(true);
    await readerA.waitForEvents(sent);
    expect(byOrigin(readerA)).toEqual({ stream: range(sent) });

    for (const app of [a, b]) {
      const { status, body } = await health(app);
      expect(status).toBe(503);
      expect(body.status).toBe('error');
      expect(body.details.backplane).toMatchObject({ status: 'down', mode: 'redis' });
      expect((await request(`${app.url}/health/live`)).status).toBe(200);
      expect((await request(`${app.url}/health/ready`)).status).toBe(200);
    }

    // While Redis is away each instance serves its own readers; nothing is kept for later.
    const whileDown = Array.from({ length: 5 }, (_, n) => ({ event_name: 'DOWN', origin: 'down', n }));
    for (const event of whileDown) await post(a, event);
    await readerA.waitForEvents(sent + whileDown.length);
    await post(b, { event_name: 'DOWN_B', origin: 'down-b', n: 0 });
    await readerB.waitFor((c) => c.events.some((e) => e.includes('DOWN_B')), 2000, 'B to serve its own event');

    await redis.restart();
    const restartedAt = Date.now();
    await Promise.all([a, b].map(backplaneUp));
    let probes = 0;
    await waitUntil(
      async () => {
        await post(a, { event_name: 'PROBE', origin: 'probe', n: probes++ });
        await new Promise((r) => setTimeout(r, 100));
        return readerB.events.some((e) => e.includes('"PROBE"'));
      },
      10_000,
      'events from A to reach B again',
    );
    const resumedAfterMs = Date.now() - restartedAt;
    expect(resumedAfterMs).toBeLessThan(10_000);
    await post(a, { event_name: 'AFTER', origin: 'after', n: 0 });
    await readerB.waitFor((c) => c.events.some((e) => e.includes('"AFTER"')), 2000, 'the event after the return');

    const seenByB = byOrigin(readerB);
    expect(seenByB.down).toBeUndefined(); // dropped while Redis was away, not delivered late
    expect(seenByB['down-b']).toEqual([0]);
    expect(seenByB.after).toEqual([0]);
    // B got a gap-free prefix of the stream (what was published before the kill), in order, once each.
    expect(seenByB.stream).toEqual(range(seenByB.stream.length));
    expect(readerA.ended || readerB.ended).toBe(false);
    // A shared or dropped each event it accepted, and dropped at least those accepted while Redis was away.
    const accepted = sent + whileDown.length + probes + 1;
    const counts = async () => (await health(a)).body.details.backplane as Record<string, number>;
    await waitUntil(async () => ((c) => c.published + c.dropped === accepted)(await counts()), 2000, 'the counts');
    expect((await counts()).dropped).toBeGreaterThanOrEqual(whileDown.length);

    // One line per instance when Redis went and one when it came back, not one per event.
    expect(log.count(/backplane down \(connection lost/)).toBe(2);
    expect(log.count(/backplane up again after/)).toBe(2);
    readerA.close();
    readerB.close();
  });

  it('notices a Redis that hangs (SIGSTOP) and shares again once it answers (SIGCONT)', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const [a, b] = [await start(redis.url), await start(redis.url)];
    await Promise.all([a, b].map(backplaneUp));
    const [readerA, readerB] = await Promise.all([reader(a), reader(b)]);
    const noticed = log.count(/connection lost: no answer to PING/);
    process.kill(redis.pid as number, 'SIGSTOP');
    try {
      // The connections stay open but nothing answers: only the PINGs can tell.
      await post(a, { event_name: 'HUNG', origin: 'hung', n: 0 });
      await readerA.waitForEvents(1);
      // Both instances, each on its own PINGs (within two PING intervals): once both have noticed, neither drops
      // its connections later, after SIGCONT, while the test expects events to flow again.
      for (const app of [a, b]) {
        await waitUntil(async () => (await health(app)).status === 503, 30_000, `${app.url} to report the hang`);
      }
      expect((await request(`${a.url}/health/live`)).status).toBe(200);
      expect((await request(`${a.url}/health/ready`)).status).toBe(200);
      expect(log.count(/connection lost: no answer to PING/)).toBeGreaterThan(noticed);
    } finally {
      process.kill(redis.pid as number, 'SIGCONT');
    }
    await Promise.all([a, b].map(backplaneUp));
    // Sent until one arrives: "up" is reported per instance, and the first event may precede B's SUBSCRIBE.
    let probes = 0;
    await waitUntil(
      async () => {
        await post(a, { event_name: 'ANSWERS_AGAIN', origin: 'again', n: probes++ });
        return readerB.events.some((e) => e.includes('ANSWERS_AGAIN'));
      },
      20_000,
      'A to reach B again',
    );
    readerA.close();
    readerB.close();
  }, 90_000);

  it('starts while Redis is unreachable and joins the others once Redis appears', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    await redis.kill(); // its port is now free: nothing answers there
    // Logged while the app starts (it waits for Redis's first answer before it listens), when the app's own
    // logger is still Nest's, or later: counted in both.
    const unreachable = /backplane down \(unreachable/;
    const downCount = () =>
      log.count(unreachable) + (logs.text().match(new RegExp(unreachable.source, 'g'))?.length ?? 0);
    const downLines = downCount();
    const a = await start(redis.url);
    const readerA = await reader(a);
    await post(a, { event_name: 'ALONE', origin: 'alone', n: 0 });
    await readerA.waitForEvents(1);
    await waitUntil(async () => (await health(a)).status === 503, 5000, 'GET /health to report the backplane down');
    expect((await request(`${a.url}/health/live`)).status).toBe(200);
    expect((await request(`${a.url}/health/ready`)).status).toBe(200);
    expect(downCount()).toBe(downLines + 1);

    await redis.restart();
    const b = await start(redis.url);
    await Promise.all([a, b].map(backplaneUp));
    const readerB = await reader(b);
    await post(a, { event_name: 'JOINED', origin: 'joined', n: 0 });
    await post(b, { event_name: 'JOINED', origin: 'joined-b', n: 0 });
    await Promise.all([readerA.waitForEvents(3), readerB.waitForEvents(2)]);
    await endWithMarkers(
      [a, b],
      [
        [a, readerA],
        [b, readerB],
      ],
    );
    expect(byOrigin(readerA)).toEqual({ alone: [0], joined: [0], 'joined-b': [0] });
    expect(byOrigin(readerB)).toEqual({ joined: [0], 'joined-b': [0] });
    readerA.close();
    readerB.close();
  });
});
