import zlib from 'node:zlib';
import { postEvent, request, type HttpResult } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

/**
 * POST /api/events is served before Express when no rate limit is set, and as a Nest route (with the throttler's
 * guard) when one is: both must answer alike, byte for byte.
 */
describe('ingest: the lane without Express answers as the Nest route does', () => {
  let fast: RunningApp;
  let routed: RunningApp;

  beforeAll(async () => {
    fast = await startApp({ MAX_EVENT_BYTES: '2048' });
    routed = await startApp({ MAX_EVENT_BYTES: '2048', RATE_LIMIT_PER_MINUTE: '100000' });
  });
  afterAll(async () => {
    await fast.close();
    await routed.close();
  });

  it('serves the route from the HTTP server before Express only when no rate limit is set', () => {
    const express = (r: RunningApp) => r.app.getHttpAdapter().getInstance() as unknown;
    // Beside ShutdownState's, which only watches requests.
    const listeners = (r: RunningApp) => (r.app.getHttpServer() as import('node:http').Server).listeners('request');
    expect(listeners(fast)).toHaveLength(2);
    expect(listeners(fast)).not.toContain(express(fast));
    expect(listeners(routed)).toHaveLength(2);
    expect(listeners(routed)).toContain(express(routed));
  });

  const cases: Array<[string, string | Buffer, Record<string, string>, string?]> = [
    ['a valid event', '{"event_name":"START","n":1.50}', { 'content-type': 'text/plain;charset=UTF-8' }],
    ['a query string', '{"q":1}', {}, '/api/events?x=1'],
    ['a gzip body', zlib.gzipSync('{"z":true}'), { 'content-encoding': 'gzip' }],
    ['invalid JSON', '{"event_name":', { 'content-type': 'application/json' }],
    ['an array', '[1]', {}],
    ['too deep', '['.repeat(70) + ']'.repeat(70), {}],
    ['too large', `{"pad":"${'x'.repeat(4000)}"}`, {}],
    ['an unknown encoding', '{"a":1}', { 'content-encoding': 'compress' }],
    ['a broken gzip stream', 'nope', { 'content-encoding': 'gzip' }],
  ];

  it.each(cases)('%s', async (_name, body, headers, path = '/api/events') => {
    const post = (r: RunningApp): Promise<HttpResult> =>
      path === '/api/events'
        ? postEvent(r.url, body, headers)
        : request(`${r.url}${path}`, { method: 'POST', headers, body });
    const [a, b] = await Promise.all([post(fast), post(routed)]);
    expect(a.status).toBe(b.status);
    expect(a.body).toBe(b.body);
    for (const name of ['content-type', 'access-control-allow-origin']) expect(a.headers[name]).toBe(b.headers[name]);
  });

  it('adds the same user_ip through trusted proxies on both lanes', async () => {
    const seen = async (r: RunningApp) => {
      const reader = await new SseClient(`${r.url}/events`).connect();
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      await postEvent(r.url, '{"a":1}', { 'x-forwarded-for': '1.2.3.4, 10.0.0.7' });
      await reader.waitForEvents(1);
      reader.close();
      return reader.events[0];
    };
    expect(await seen(fast)).toBe('{"a":1,"user_ip":"1.2.3.4"}');
    expect(await seen(routed)).toBe('{"a":1,"user_ip":"1.2.3.4"}');
  });
});
