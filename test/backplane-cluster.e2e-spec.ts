import { randomUUID } from 'node:crypto';
import { waitUntil } from './support/wait-until.js';
import { startApp, type RunningApp } from './support/app.js';
import { RedisCluster } from './support/redis-cluster.js';
import { describeWithRedis } from './support/redis-server.js';
import { health, post, range, reader, endWithMarkers, type Numbered } from './support/backplane.js';
import type { SseClient } from './support/sse-client.js';

const backplaneIs = (app: RunningApp, status: 'up' | 'down', timeoutMs: number) =>
  waitUntil(
    async () => (await health(app)).body.details?.backplane?.status === status,
    timeoutMs,
    `the backplane of ${app.url} ${status}`,
  );

/** The numbered events of `tag` a reader got, by origin, in the order received. */
function byOrigin(client: SseClient, tag: string): Record<string, number[]> {
  const result: Record<string, number[]> = {};
  for (const e of client.json<Numbered & { tag?: string }>()) if (e.tag === tag) (result[e.origin] ??= []).push(e.n);
  return result;
}

/** Posts `count` numbered events of `tag`, alternating between the two instances, one at a time. */
async function postRound(a: RunningApp, b: RunningApp, tag: string, count: number): Promise<void> {
  const next = { a: 0, b: 0 };
  for (let i = 0; i < count; i++) {
    const origin = i % 3 === 0 ? 'b' : 'a';
    await post(origin === 'a' ? a : b, { event_name: 'POS', session_id: 's', tag, origin, n: next[origin]++ });
  }
}

function expected(count: number): Record<string, number[]> {
  const b = Math.ceil(count / 3);
  return { a: range(count - b), b: range(b) };
}

describeWithRedis('backplane: instances joined by a Redis Cluster (sharded pub/sub)', () => {
  let cluster: RedisCluster;
  let a: RunningApp;
  let b: RunningApp;
  const channel = `test:${randomUUID()}`;

  beforeAll(async () => {
    cluster = await RedisCluster.start(3);
    // One seed node each: the cluster client finds the others, and the owner of the channel's slot.
    const [first, second] = cluster.url.split(',');
    // Probes round the channel every second rather than every 5: a lost node is noticed within 2 s.
    const timings = { redisPingIntervalMs: 1000 };
    a = await startApp({ REDIS_CLUSTER: 'true', REDIS_URL: first, REDIS_CHANNEL: channel }, { timings });
    b = await startApp({ REDIS_CLUSTER: 'true', REDIS_URL: `${second},${first}`, REDIS_CHANNEL: channel }, { timings });
    await Promise.all([a, b].map((app) => backplaneIs(app, 'up', 15_000)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((app) => app.close()));
    await cluster?.stop();
  });

  it('reports cluster mode in GET /health', async () => {
    const { status, body } = await health(a);
    expect(status).toBe(200);
    expect(body.details.backplane).toMatchObject({ status: 'up', mode: 'redis', cluster: true, channel });
  });

  it('delivers a POST to either of two instances to the readers of both, exactly once and in order', async () => {
    const instances = [a, a, b, b];
    const readers = await Promise.all(instances.map(reader));
    await postRound(a, b, 'first', 60);
    await Promise.all(readers.map((r) => r.waitFor(() => Object.values(byOrigin(r, 'first')).flat().length >= 60)));
    await endWithMarkers(
      [a, b],
      readers.map((r, i) => [instances[i], r]),
    );
    for (const r of readers) expect(byOrigin(r, 'first')).toEqual(expected(60));
    readers.forEach((r) => r.close());
  });

  it('survives the loss of the node that owns the channel, reports it, and shares again once it is back', async () => {
    const owner = cluster.ownerOf(channel);
    await cluster.kill(owner);
    await Promise.all([a, b].map((app) => backplaneIs(app, 'down', 30_000)));
    const down = await health(a);
    expect(down.status).toBe(503);
    // Meanwhile each instance serves its own readers, and POSTs are accepted.
    const alone = await reader(a);
    await post(a, { event_name: 'POS', session_id: 's', tag: 'alone', origin: 'a', n: 0 });
    await alone.waitFor(() => byOrigin(alone, 'alone').a?.length === 1);
    alone.close();

    await cluster.restart(owner);
    await Promise.all([a, b].map((app) => backplaneIs(app, 'up', 45_000)));
    const readers = await Promise.all([a, b].map(reader));
    await postRound(a, b, 'again', 30);
    await Promise.all(readers.map((r) => r.waitFor(() => Object.values(byOrigin(r, 'again')).flat().length >= 30)));
    await endWithMarkers(
      [a, b],
      [
        [a, readers[0]],
        [b, readers[1]],
      ],
    );
    for (const r of readers) expect(byOrigin(r, 'again')).toEqual(expected(30));
    readers.forEach((r) => r.close());
  }, 120_000);
});
