import { waitUntil } from './support/wait-until.js';
import { json, postEvent, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { openRawStream, SseClient } from './support/sse-client.js';

async function subscriberStats(url: string) {
  const details = json(await request(`${url}/health`)).details as Record<string, Record<string, unknown>>;
  return details.subscribers as { count: number; disconnected: Record<string, number> };
}

describe('GET /events', () => {
  describe('with default settings', () => {
    let running: RunningApp;
    beforeAll(async () => {
      // 300 readers of one address in one test.
      running = await startApp({ MAX_SUBSCRIBERS_PER_ADDRESS: '1000' });
    });
    afterAll(() => running.close());

    it('sends SSE headers and a first comment at once, before any event', async () => {
      const reader = await new SseClient(`${running.url}/events`).connect();
      await reader.waitFor((c) => c.comments >= 1, 1000, 'the first comment');
      expect(reader.status).toBe(200);
      expect(reader.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(reader.headers['cache-control']).toMatch(/no-cache/);
      expect(reader.headers['cache-control']).toMatch(/no-transform/);
      expect(reader.headers['x-accel-buffering']).toBe('no');
      expect(reader.headers['access-control-allow-origin']).toBe('*');
      expect(reader.events).toEqual([]);
      reader.close();
    });

    it('answers HEAD /events with the headers and no body', async () => {
      const res = await request(`${running.url}/events`, { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers.connection).toBe('close');
      expect(res.body).toBe('');
      await postEvent(running.url, { after: 'head' });
      expect((await subscriberStats(running.url)).count).toBe(0);
    });

    it('streams framed chunks over HTTP/1.1 and plain bytes over HTTP/1.0, exactly', async () => {
      const [v11, v10] = [openRawStream(running.port, '1.1'), openRawStream(running.port, '1.0')];
      await waitUntil(async () => (await subscriberStats(running.url)).count === 2);
      expect((await postEvent(running.url, '{"version":"both"}')).status).toBe(204);
      const frame = 'data: {"version":"both","user_ip":"127.0.0.1"}\n\n';
      await waitUntil(async () => v11.received().includes('data:') && v10.received().includes('data:'));
      expect(v11.received()).toMatch(/transfer-encoding: chunked/i);
      expect(v11.received().endsWith(`${frame.length.toString(16)}\r\n${frame}\r\n`)).toBe(true);
      expect(v10.received()).not.toMatch(/transfer-encoding/i);
      expect(v10.received().endsWith(`\n\n${frame}`)).toBe(true);
      v11.close();
      v10.close();
    });

    it('answers a CORS preflight on both routes', async () => {
      for (const [path, method] of [
        ['/api/events', 'POST'],
        ['/events', 'GET'],
      ]) {
        const res = await request(`${running.url}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin: 'https://console.example',
            'access-control-request-method': method,
            'access-control-request-headers': 'content-type',
          },
        });
        expect(res.status).toBe(204);
        expect(res.headers['access-control-allow-origin']).toBe('*');
        expect(res.headers['access-control-allow-methods']).toContain(method);
        expect(res.headers['access-control-allow-headers']).toMatch(/content-type/i);
      }
    });

    it('releases every subscriber when many leave at once, and keeps serving', async () => {
      const readers = await Promise.all(
        Array.from({ length: 300 }, () => new SseClient(`${running.url}/events`).connect()),
      );
      await waitUntil(async () => (await subscriberStats(running.url)).count === 300);
      const posting = Promise.all(Array.from({ length: 50 }, (_, i) => postEvent(running.url, { n: i })));
      for (const r of readers) r.close();
      const results = await posting;
      expect(results.every((r) => r.status === 204)).toBe(true);
      await waitUntil(async () => (await subscriberStats(running.url)).count === 0);

      const fresh = await new SseClient(`${running.url}/events`).connect();
      await postEvent(running.url, { after: 'churn' });
      await fresh.waitForEvents(1);
      expect(fresh.json()[0]).toMatchObject({ after: 'churn' });
      fresh.close();
    });
  });

  it('sends a keep-alive comment after SSE_HEARTBEAT_MS of silence', async () => {
    const running = await startApp({ SSE_HEARTBEAT_MS: '200' });
    try {
      const reader = await new SseClient(`${running.url}/events`).connect();
      await reader.waitFor((c) => c.comments >= 1, 1000, 'the greeting');
      const started = Date.now();
      await reader.waitFor((c) => c.comments >= 3, 2000, 'two keep-alive comments');
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(reader.raw).toContain(': keep-alive\n\n');
      expect(reader.events).toEqual([]);
      reader.close();
    } finally {
      await running.close();
    }
  });

  it('cuts off a reader that stops reading, while the others get every event and POSTs succeed', async () => {
    // Keep-alives every 500 ms: the stopped reader's backlog is looked at again once the POSTs are over.
    const running = await startApp(
      { SSE_MAX_BUFFER_BYTES: '65536', SSE_HEARTBEAT_MS: '500' },
      { timings: { slowReaderWindowMs: 2000 } },
    );
    try {
      const paused = await new SseClient(`${running.url}/events`).connect();
      const readers = await Promise.all([1, 2].map(() => new SseClient(`${running.url}/events`).connect()));
      await waitUntil(async () => (await subscriberStats(running.url)).count === 3);
      paused.pause();
      const pad = 'p'.repeat(8000);
      const total = 1500;
      const statuses: number[] = [];
      for (let i = 0; i < total; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, (_, j) => postEvent(running.url, `{"seq":${i + j},"pad":"${pad}"}`)),
        );
        statuses.push(...batch.map((r) => r.status));
      }
      expect(statuses.filter((s) => s !== 204)).toEqual([]);
      await Promise.all(readers.map((r) => r.waitForEvents(total, 10000)));
      for (const r of readers) {
        const seqs = r.json<{ seq: number }>().map((e) => e.seq);
        expect(new Set(seqs).size).toBe(total);
        expect(seqs).toHaveLength(total);
      }
      // Cut off once its backlog has not shrunk for the slow-reader window (or has passed the memory bound).
      await waitUntil(async () => (await subscriberStats(running.url)).disconnected.slow === 1, 20_000, 'a cut-off');
      const stats = await subscriberStats(running.url);
      expect(stats.disconnected.slow).toBe(1);
      expect(stats.count).toBe(2);
      for (const r of [paused, ...readers]) r.close();
    } finally {
      await running.close();
    }
  }, 60_000);

  it('refuses one subscriber more than MAX_SUBSCRIBERS with a JSON 503', async () => {
    const running = await startApp({ MAX_SUBSCRIBERS: '2', MAX_SUBSCRIBERS_PER_ADDRESS: '2' });
    try {
      const first = await new SseClient(`${running.url}/events`).connect();
      const second = await new SseClient(`${running.url}/events`).connect();
      await waitUntil(async () => (await subscriberStats(running.url)).count === 2);
      const third = await request(`${running.url}/events`);
      expect(third.status).toBe(503);
      expect(third.headers['access-control-allow-origin']).toBe('*');
      expect(json(third)).toMatchObject({ statusCode: 503, message: expect.stringMatching(/MAX_SUBSCRIBERS/) });
      first.close();
      await waitUntil(async () => (await subscriberStats(running.url)).count === 1);
      const again = await new SseClient(`${running.url}/events`).connect();
      expect(again.status).toBe(200);
      again.close();
      second.close();
    } finally {
      await running.close();
    }
  });
});
