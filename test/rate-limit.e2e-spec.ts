import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent, request } from './support/http.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';

const from = (address: string) => ({ 'content-type': 'application/json', 'x-forwarded-for': address });

describe('rate limit: RATE_LIMIT_PER_MINUTE=3', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(() => running.close());

  it('answers 429 with Retry-After past the limit, per resolved client address, and counts it', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting comment');

    // The loopback proxy is trusted (TRUST_PROXY default): the limit is keyed on the forwarded address.
    for (let i = 0; i < 3; i++) {
      const res = await postEvent(running.url, { event_name: 'HEARTBEAT', n: i }, from('203.0.113.7'));
      expect(res.status).toBe(204);
    }
    const refused = await postEvent(running.url, { event_name: 'HEARTBEAT', n: 3 }, from('203.0.113.7'));
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    expect(json(refused)).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: 'More than 3 events per minute from this address (RATE_LIMIT_PER_MINUTE)',
    });

    // Another client is not affected, and gets its own 3.
    for (let i = 0; i < 3; i++) {
      expect((await postEvent(running.url, { event_name: 'START', n: i }, from('198.51.100.4'))).status).toBe(204);
    }
    expect((await postEvent(running.url, { event_name: 'START' }, from('198.51.100.4'))).status).toBe(429);
    expect((await postEvent(running.url, { event_name: 'START' }, from('203.0.113.7'))).status).toBe(429);

    // Only the accepted ones reached the stream: a refused one would have arrived before this last one.
    expect((await postEvent(running.url, { event_name: 'LAST' }, from('192.0.2.99'))).status).toBe(204);
    await reader.waitFor((c) => c.events.some((e) => e.includes('"LAST"')), 2000, 'the last event');
    expect(reader.events).toHaveLength(7);
    reader.close();

    const samples = await scrape(running.url);
    expect(sample(samples, 'pillarbox_events_rejected_total{reason="rate_limit"}')).toBe(3);
    expect(sample(samples, 'pillarbox_events_received_total')).toBe(7);
  });

  it('does not limit the stream, the preflight, the metrics or the health probes', async () => {
    const address = '192.0.2.55';
    for (let i = 0; i < 4; i++) await postEvent(running.url, { n: i }, from(address));
    expect((await postEvent(running.url, {}, from(address))).status).toBe(429);
    for (let i = 0; i < 5; i++) {
      const preflight = await request(`${running.url}/api/events`, { method: 'OPTIONS', headers: from(address) });
      expect(preflight.status).toBe(204);
      expect((await request(`${running.url}/health/live`, { headers: from(address) })).status).toBe(200);
      expect((await request(`${running.url}/metrics`, { headers: from(address) })).status).toBe(200);
      const reader = await new SseClient(`${running.url}/events`, from(address)).connect();
      expect(reader.status).toBe(200);
      reader.close();
    }
  });
});

describe('rate limit: off by default', () => {
  it('accepts any number of events from one address, and no throttler runs (no X-RateLimit headers)', async () => {
    const running = await startApp();
    try {
      for (let i = 0; i < 40; i++) {
        const res = await postEvent(running.url, { n: i });
        expect(res.status).toBe(204);
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
      }
      expect(sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="rate_limit"}')).toBe(0);
    } finally {
      await running.close();
    }
  });
});
