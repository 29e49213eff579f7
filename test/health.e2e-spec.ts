import { json, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';
import { ShutdownState } from '../src/common/shutdown-state.service.js';

describe('health', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('GET /health reports memory and the subscriber count', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    const res = await request(`${running.url}/health`);
    expect(`${res.status} ${res.body}`).toMatch(/^200 /);
    const body = json(res) as { status: string; details: Record<string, Record<string, unknown>> };
    expect(body.status).toBe('ok');
    expect(body.details.memory_heap.status).toBe('up');
    expect(body.details.subscribers).toMatchObject({ status: 'up', count: 1, max: 10000 });
    reader.close();
  });

  it('GET /health answers 503 when the heap is over HEALTH_MAX_HEAP_MB', async () => {
    const tiny = await startApp({ HEALTH_MAX_HEAP_MB: '16' });
    try {
      const res = await request(`${tiny.url}/health`);
      expect(res.status).toBe(503);
      expect(json(res)).toMatchObject({ status: 'error', error: { memory_heap: { status: 'down' } } });
    } finally {
      await tiny.close();
    }
  });

  it('GET /health reports the RSS, against the container memory limit when there is one', async () => {
    const body = json(await request(`${running.url}/health`)) as { details: Record<string, Record<string, unknown>> };
    // No limit (as on this machine for the tests): up, the RSS shown.
    expect(body.details.memory_rss).toEqual({ status: 'up', rssMb: expect.any(Number), limitMb: null });
    expect(body.details.memory_rss.rssMb).toBeGreaterThan(10);

    const MiB = 1024 * 1024;
    const roomy = await startApp({}, { memoryLimitBytes: 64 * 1024 * MiB });
    const tight = await startApp({ HEALTH_MAX_RSS_PERCENT: '50' }, { memoryLimitBytes: 32 * MiB });
    try {
      const up = await request(`${roomy.url}/health`);
      expect(up.status).toBe(200);
      expect(json(up)).toMatchObject({ details: { memory_rss: { status: 'up', limitMb: 65536, maxPercent: 90 } } });
      // jest's process is far above 16 MiB: down, and GET /health 503.
      const down = await request(`${tight.url}/health`);
      expect(down.status).toBe(503);
      expect(json(down)).toMatchObject({ error: { memory_rss: { status: 'down', limitMb: 32, maxPercent: 50 } } });
      // The subscriber limit follows the memory limit when MAX_SUBSCRIBERS is not set.
      expect(json(up)).toMatchObject({ details: { subscribers: { max: 10000 } } });
      expect(json(down)).toMatchObject({ details: { subscribers: { max: 100 } } });
    } finally {
      await Promise.all([roomy.close(), tight.close()]);
    }
  });

  it('live and ready answer 200 while serving; ready turns 503 once draining, live stays 200 with Connection: close', async () => {
    expect((await request(`${running.url}/health/live`)).status).toBe(200);
    const ready = await request(`${running.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(json(ready)).toMatchObject({ status: 'ok', details: { lifecycle: { state: 'serving' } } });

    const state = running.app.get(ShutdownState);
    state.drain();
    const draining = await request(`${running.url}/health/ready`);
    expect(draining.status).toBe(503);
    expect(draining.headers.connection).toBe('close');
    expect(json(draining)).toMatchObject({ status: 'error', details: { lifecycle: { state: 'shutting down' } } });
    const live = await request(`${running.url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.connection).toBe('close');
    // Streams are still served while draining: an EventSource that gets a 503 does not try again.
    const reader = await new SseClient(`${running.url}/events`).connect();
    expect(reader.status).toBe(200);
    reader.close();
    // Once closing, new streams are refused.
    state.close();
    const stream = await request(`${running.url}/events`);
    expect(stream.status).toBe(503);
    expect(json(stream).statusCode).toBe(503);
  });
});
