import { Redis } from 'ioredis';
import { RedisMessageCodec } from '../src/backplane/redis-message.js';
import { startApp, type RunningApp } from './support/app.js';
import { health, reader } from './support/backplane.js';
import { postEvent } from './support/http.js';
import { logs } from './support/log-capture.js';
import { sample, scrape } from './support/metrics.js';
import { describeWithRedis, RedisServer } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

const up = (app: RunningApp) =>
  waitUntil(async () => (await health(app)).status === 200, 10_000, 'the backplane to be up');

/** A message of another instance on the channel, carrying `frames` exactly as given. */
function message(frames: Array<string | Buffer>): Buffer {
  return new RedisMessageCodec().encode(frames.map((f) => ({ frame: Buffer.isBuffer(f) ? f : Buffer.from(f) })));
}

describeWithRedis('backplane: what comes from Redis is checked like a POST', () => {
  let redis: RedisServer;
  let app: RunningApp;
  let client: Redis;
  const channel = 'checks:events';

  beforeAll(async () => {
    redis = await RedisServer.start();
    app = await startApp({ REDIS_URL: redis.url, REDIS_CHANNEL: channel, MAX_EVENT_BYTES: '4096' });
    await up(app);
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await app?.close();
    await redis?.stop();
  });

  it('drops and counts frames a POST would be refused for, cuts no reader, and delivers the good ones', async () => {
    const fast = await reader(app);
    const bad = [
      `data: {"big":"${'x'.repeat(6 * 1024 * 1024)}"}\n\n`, // far past MAX_EVENT_BYTES
      'data: hello\n\n', // not JSON
      'data: {"nul":"\u0000"}\n\n', // a raw NUL in a string
      Buffer.concat([Buffer.from('data: {"bad":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n\n')]), // not UTF-8
      'data: [1,2]\n\n', // not an object
      `data: ${'['.repeat(100)}${']'.repeat(100)}\n\n`, // nested too deep
    ];
    // The first good frame's header says ERROR: its JSON says START, and that is what counts.
    await client.publish(channel, message([...bad, 'data: {"event_name":"START","n":1}\n\n']));
    await client.publish(channel, message(['data: {"event_name":"STOP","n":2}\n\n']));
    await fast.waitForEvents(2);
    expect(fast.json()).toEqual([
      { event_name: 'START', n: 1 },
      { event_name: 'STOP', n: 2 },
    ]);
    expect(fast.ended).toBe(false);
    const samples = await scrape(app.url);
    expect(sample(samples, 'pillarbox_backplane_errors_total{reason="invalid"}')).toBe(bad.length);
    expect(sample(samples, 'pillarbox_subscribers_disconnected_total{reason="slow"}')).toBe(0);
    expect((await health(app)).body.details.backplane).toMatchObject({ invalid: bad.length });
    fast.close();
  });

  it('filters the events of another instance on their own fields, not on what the message says of them', async () => {
    const starts = await SseClient.open(`${app.url}/events?event_name=START`);
    const forged = new RedisMessageCodec().encode([
      { frame: Buffer.from('data: {"event_name":"HEARTBEAT","n":3}\n\n'), eventName: 'START' },
      { frame: Buffer.from('data: {"event_name":"START","n":4}\n\n'), eventName: 'HEARTBEAT' },
    ]);
    await client.publish(channel, forged);
    await starts.waitForEvents(1);
    expect(starts.json()).toEqual([{ event_name: 'START', n: 4 }]);
    starts.close();
  });
});

describeWithRedis('RATE_LIMIT_PER_MINUTE with REDIS_URL: one count for every instance', () => {
  let redis: RedisServer;
  let apps: RunningApp[];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_CHANNEL: 'limits:events', RATE_LIMIT_PER_MINUTE: '100' };
    apps = await Promise.all([startApp(env), startApp(env)]);
    await Promise.all(apps.map(up));
  });
  afterAll(async () => {
    await Promise.all((apps ?? []).map((a) => a.close()));
    await redis?.stop();
  });

  const from = (address: string) => ({ 'content-type': 'application/json', 'x-forwarded-for': address });

  it('accepts RATE_LIMIT_PER_MINUTE events from one address across two instances, then 429 with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | string[] | undefined;
    for (let i = 0; i < 300; i++) {
      const res = await postEvent(apps[i % 2].url, { event_name: 'HEARTBEAT', n: i }, from('203.0.113.9'));
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers['retry-after'];
    }
    expect(statuses.filter((s) => s === 204)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // Another address has its own count.
    expect((await postEvent(apps[1].url, { event_name: 'START' }, from('203.0.113.10'))).status).toBe(204);
  });

  it('while Redis is down, each instance counts alone, logged and counted', async () => {
    logs.clear();
    await redis.kill();
    const statuses: number[] = [];
    for (let i = 0; i < 240; i++) {
      statuses.push((await postEvent(apps[i % 2].url, { event_name: 'HEARTBEAT', n: i }, from('203.0.113.11'))).status);
    }
    // 100 per instance: the limit still holds, per instance, as without Redis.
    expect(statuses.filter((s) => s === 204)).toHaveLength(200);
    for (const app of apps) {
      expect(sample(await scrape(app.url), 'pillarbox_rate_limit_fallbacks_total')).toBeGreaterThan(0);
    }
    expect(logs.text()).toMatch(
      /The shared rate-limit count in Redis is unavailable \([^)]*\): each instance counts alone/,
    );
    await redis.restart();
  });
});

describeWithRedis('backplane: errors that name their likely cause', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis?.stop());

  it.each([
    [
      'a rediss:// URL against a Redis without TLS',
      () => ({ REDIS_URL: redis.url.replace('redis://', 'rediss://') }),
      /does this Redis serve TLS on that port\?/,
    ],
    [
      'REDIS_CLUSTER=true against a Redis that is not a cluster',
      () => ({ REDIS_URL: redis.url, REDIS_CLUSTER: 'true' }),
      /is this Redis a Redis Cluster\?/,
    ],
  ])(
    '%s',
    async (_case, env, cause) => {
      logs.clear();
      const app = await startApp(env(), { timings: { redisStartupWaitMs: 500 } });
      try {
        await waitUntil(() => /Redis backplane down/.test(logs.text()), 15_000, 'the backplane to report it is down');
        const line = logs
          .text()
          .split('\n')
          .find((l) => l.includes('Redis backplane down'));
        expect(line).toMatch(cause);
      } finally {
        await app.close();
      }
    },
    30_000,
  );
});
