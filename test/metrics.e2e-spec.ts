import { gzipSync } from 'node:zlib';
import { EventBus } from '../src/events/event-bus.service.js';
import { buildFrame } from '../src/events/ingest.js';
import { SseHub } from '../src/events/sse-hub.service.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { startApp, type RunningApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';
import { postEvent, request } from './support/http.js';
import { parseMetrics, sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';

const rejected = (reason: string) => `pillarbox_events_rejected_total{reason="${reason}"}`;
const disconnected = (reason: string) => `pillarbox_subscribers_disconnected_total{reason="${reason}"}`;

async function reader(url: string): Promise<SseClient> {
  const client = await new SseClient(`${url}/events`).connect();
  await client.waitFor((c) => c.comments > 0, 2000, 'the greeting comment');
  return client;
}

describe('metrics: GET /metrics counts what happened', () => {
  let running: RunningApp | undefined;

  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('serves Prometheus text with every counter at zero, and Node process metrics, on a fresh instance', async () => {
    running = await startApp();
    const res = await request(`${running.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(res.body);
    expect(sample(samples, 'pillarbox_events_received_total')).toBe(0);
    for (const reason of ['invalid_json', 'not_object', 'too_large', 'too_deep', 'encoding', 'schema', 'rate_limit']) {
      expect(sample(samples, rejected(reason))).toBe(0);
    }
    for (const reason of ['client', 'slow', 'shutdown', 'auth']) expect(sample(samples, disconnected(reason))).toBe(0);
    expect(sample(samples, 'pillarbox_frames_delivered_total')).toBe(0);
    expect(sample(samples, 'pillarbox_subscribers')).toBe(0);
    expect(sample(samples, 'pillarbox_ingest_duration_seconds_count')).toBe(0);
    expect(sample(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // No backplane runs: its counters are not exported at all.
    expect([...samples.keys()].filter((k) => k.startsWith('pillarbox_backplane'))).toEqual([]);
  });

  it('after a known sequence of accepted and refused events, the counters match it exactly', async () => {
    running = await startApp({ MAX_EVENT_BYTES: '1024' });
    const { url } = running;
    const readers = [await reader(url), await reader(url)];
    expect(sample(await scrape(url), 'pillarbox_subscribers')).toBe(2);

    const sequential = 7;
    for (let i = 0; i < sequential; i++) {
      expect((await postEvent(url, { event_name: 'HEARTBEAT', session_id: `s-${i}` })).status).toBe(204);
    }
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postEvent(url, { event_name: 'HEARTBEAT', session_id: `c-${i}` })),
    );
    expect(concurrent.map((r) => r.status)).toEqual(Array(20).fill(204));
    const accepted = sequential + 20;
    // Events of one event-loop turn go out in one write per subscriber: frames are still counted per event.
    const bus = running.app.get(EventBus);
    for (let i = 0; i < 3; i++) bus.publish(buildFrame(Buffer.from(`{"joined":${i}}`), '192.0.2.1'));
    const published = 3;
    // A compressed event counts as one accepted event too.
    const gz = gzipSync(JSON.stringify({ event_name: 'STOP', session_id: 's-gz' }));
    expect((await postEvent(url, gz, { 'content-encoding': 'gzip' })).status).toBe(204);
    await Promise.all(readers.map((r) => r.waitForEvents(accepted + 1 + published)));

    const refusals: Array<[string, string | Buffer, Record<string, string>, number]> = [
      ['invalid_json', '{"event_name":', {}, 400],
      ['invalid_json', 'not json at all', {}, 400],
      ['invalid_json', '   ', {}, 400],
      ['not_object', '[1,2,3]', {}, 400],
      ['not_object', '"a string"', {}, 400],
      ['too_large', JSON.stringify({ pad: 'x'.repeat(2000) }), {}, 413],
      ['too_deep', `${'['.repeat(70)}${']'.repeat(70)}`, {}, 400],
      ['encoding', '{}', { 'content-encoding': 'zstd' }, 415],
      ['encoding', Buffer.from('definitely not gzip'), { 'content-encoding': 'gzip' }, 400],
    ];
    for (const [reason, body, headers, status] of refusals) {
      const res = await postEvent(url, body, { 'content-type': 'application/json', ...headers });
      expect({ reason, status: res.status }).toEqual({ reason, status });
    }

    const samples = await scrape(url);
    expect(sample(samples, 'pillarbox_events_received_total')).toBe(accepted + 1);
    expect(sample(samples, rejected('invalid_json'))).toBe(3);
    expect(sample(samples, rejected('not_object'))).toBe(2);
    expect(sample(samples, rejected('too_large'))).toBe(1);
    expect(sample(samples, rejected('too_deep'))).toBe(1);
    expect(sample(samples, rejected('encoding'))).toBe(2);
    expect(sample(samples, rejected('schema'))).toBe(0);
    expect(sample(samples, rejected('rate_limit'))).toBe(0);
    expect(sample(samples, rejected('other'))).toBe(0);
    // One frame per event per subscriber.
    expect(sample(samples, 'pillarbox_frames_delivered_total')).toBe(2 * (accepted + 1 + published));
    expect(sample(samples, 'pillarbox_ingest_duration_seconds_count')).toBe(accepted + 1);
    expect(sample(samples, 'pillarbox_ingest_duration_seconds_bucket{le="+Inf"}')).toBe(accepted + 1);
    expect(sample(samples, 'pillarbox_ingest_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sample(samples, 'pillarbox_subscribers')).toBe(2);
    // The readers got exactly the accepted events, nothing of the refused ones.
    for (const r of readers) {
      expect(r.events).toHaveLength(accepted + 1 + published);
      r.close();
    }
  });

  it('counts disconnects by reason: client, slow, shutdown', async () => {
    running = await startApp({ SSE_MAX_BUFFER_BYTES: String(256 * 1024) });
    const { url } = running;
    const metrics = running.app.get(MetricsService);

    const leaving = await reader(url);
    const stuck = await reader(url);
    const staying = await reader(url);
    leaving.close();
    await waitUntil(async () => sample(await scrape(url), disconnected('client')) === 1, 5000, 'the disconnect');

    // A reader that stops reading is cut off once its unsent bytes pass SSE_MAX_BUFFER_BYTES (bounded loop).
    stuck.pause();
    const big = JSON.stringify({ event_name: 'HEARTBEAT', pad: 'y'.repeat(100_000) });
    // A paused client does not see its stream end: the loop watches the hub.
    const hub = running.app.get(SseHub);
    for (let i = 0; i < 300 && hub.size === 2; i++) {
      expect((await postEvent(url, big)).status).toBe(204);
      await new Promise((resolve) => setImmediate(resolve));
    }
    stuck.close();
    let samples = await scrape(url);
    expect(sample(samples, disconnected('slow'))).toBe(1);
    expect(sample(samples, disconnected('client'))).toBe(1);
    expect(sample(samples, 'pillarbox_subscribers')).toBe(1);

    await running.close();
    running = undefined;
    await staying.waitForEnd();
    samples = parseMetrics(await metrics.render());
    expect(sample(samples, disconnected('shutdown'))).toBe(1);
    expect(sample(samples, disconnected('slow'))).toBe(1);
    expect(sample(samples, disconnected('client'))).toBe(1);
    expect(sample(samples, disconnected('auth'))).toBe(0);
    expect(sample(samples, 'pillarbox_subscribers')).toBe(0);
  });
});
