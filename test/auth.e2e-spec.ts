import { ConfigError, loadConfig } from '../src/config/app-config.js';
import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent, request } from './support/http.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';

const TOKEN_A = 'console-token-aaaaaaaaaaaa';
const TOKEN_B = 'ops.token_BBBB~bbbb+bbbb/bb==';

async function expectRefused(url: string, headers: Record<string, string>, invalid: boolean): Promise<void> {
  const res = await request(url, { headers: { accept: 'text/event-stream', ...headers } });
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="pillarbox-events"/);
  expect(res.headers['www-authenticate']?.includes('error="invalid_token"')).toBe(invalid);
  expect(res.headers['access-control-allow-origin']).toBe('*');
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(json(res)).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String) });
}

describe('auth: SUBSCRIBER_TOKENS guards GET /events and /metrics', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ SUBSCRIBER_TOKENS: ` ${TOKEN_A} , ${TOKEN_B} ` });
  });
  afterAll(() => running.close());

  it('streams to a reader with a token as Bearer header and to one with it as ?access_token=', async () => {
    const byHeader = await new SseClient(`${running.url}/events`, { authorization: `Bearer ${TOKEN_B}` }).connect();
    const byQuery = await new SseClient(`${running.url}/events?access_token=${encodeURIComponent(TOKEN_A)}`).connect();
    for (const reader of [byHeader, byQuery]) {
      expect(reader.status).toBe(200);
      expect(reader.headers['content-type']).toMatch(/^text\/event-stream/);
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting comment');
    }
    // POST stays anonymous.
    const res = await postEvent(running.url, { event_name: 'START', session_id: 'auth-1' });
    expect(res.status).toBe(204);
    await Promise.all([byHeader.waitForEvents(1), byQuery.waitForEvents(1)]);
    expect(byHeader.json()[0]).toMatchObject({ session_id: 'auth-1', user_ip: '127.0.0.1' });
    expect(byQuery.json()[0]).toMatchObject({ session_id: 'auth-1' });
    byHeader.close();
    byQuery.close();
  });

  it('refuses a stream with no token or a wrong one: 401, WWW-Authenticate: Bearer, JSON body, counted as auth', async () => {
    const before = sample(
      await scrape(running.url, { authorization: `Bearer ${TOKEN_A}` }),
      'pillarbox_subscribers_disconnected_total{reason="auth"}',
    );
    const url = `${running.url}/events`;
    await expectRefused(url, {}, false);
    await expectRefused(url, { authorization: `Bearer ${TOKEN_A}x` }, true);
    await expectRefused(url, { authorization: `Bearer ${TOKEN_A.slice(0, -1)}` }, true);
    await expectRefused(url, { authorization: `Bearer ${TOKEN_A.toUpperCase()}` }, true);
    await expectRefused(url, { authorization: `Basic ${Buffer.from(`u:${TOKEN_A}`).toString('base64')}` }, false);
    await expectRefused(url, { authorization: 'Bearer' }, false);
    await expectRefused(`${url}?access_token=wrong-token-wrong-token`, {}, true);
    await expectRefused(`${url}?access_token=`, {}, true);
    // Two tokens at once (an array in the query) are not a token.
    await expectRefused(`${url}?access_token=${TOKEN_A}&access_token=${TOKEN_B}`, {}, false);
    // A wrong header is not rescued by a right query: the header is the one looked at.
    await expectRefused(`${url}?access_token=${TOKEN_A}`, { authorization: 'Bearer nope-nope-nope-nope' }, true);
    const after = await scrape(running.url, { authorization: `Bearer ${TOKEN_A}` });
    expect(sample(after, 'pillarbox_subscribers_disconnected_total{reason="auth"}')).toBe(before + 10);
    expect(sample(after, 'pillarbox_subscribers')).toBe(0);
  });

  it('reads ?access_token= beside an Authorization header of another scheme (basic auth of a proxy in front)', async () => {
    // A browser sends the basic-auth credentials of the page's site with EventSource's request too.
    const basic = `Basic ${Buffer.from('viewer:proxy-password').toString('base64')}`;
    const reader = await new SseClient(`${running.url}/events?access_token=${encodeURIComponent(TOKEN_A)}`, {
      authorization: basic,
    }).connect();
    expect(reader.status).toBe(200);
    reader.close();
    const scraped = await request(`${running.url}/metrics?access_token=${encodeURIComponent(TOKEN_B)}`, {
      headers: { authorization: basic },
    });
    expect(scraped.status).toBe(200);
  });

  it('guards /metrics the same way, without counting a refused scrape as a subscriber', async () => {
    const refused = await request(`${running.url}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await request(`${running.url}/metrics?access_token=not-a-valid-token-at-all`);
    expect(wrong.status).toBe(401);
    const byQuery = await request(`${running.url}/metrics?access_token=${encodeURIComponent(TOKEN_B)}`);
    expect(byQuery.status).toBe(200);
    const samples = await scrape(running.url, { authorization: `bearer ${TOKEN_A}` });
    expect(sample(samples, 'pillarbox_subscribers_disconnected_total{reason="auth"}')).toBe(10);
  });

  it('leaves POST /api/events, its preflight and the health probes open', async () => {
    expect((await postEvent(running.url, { event_name: 'HEARTBEAT' })).status).toBe(204);
    const preflight = await request(`${running.url}/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://console.example', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect((await request(`${running.url}/health/ready`)).status).toBe(200);
  });
});

describe('auth: without SUBSCRIBER_TOKENS', () => {
  it('leaves the stream and the metrics open, as the Go service did', async () => {
    const running = await startApp();
    try {
      const reader = await new SseClient(`${running.url}/events`).connect();
      expect(reader.status).toBe(200);
      reader.close();
      expect((await request(`${running.url}/metrics`)).status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe('auth: SUBSCRIBER_TOKENS validation', () => {
  it.each([['short'], ['good-token-good-token,has space in it!!'], ['tok\u00e9n-with-accent-xxxxx']])(
    'refuses %j at start-up without printing it',
    (value) => {
      let error: unknown;
      try {
        loadConfig({ SUBSCRIBER_TOKENS: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toMatch(/SUBSCRIBER_TOKENS=<redacted>: SUBSCRIBER_TOKENS must be a comma-separated list/);
      for (const part of value.split(',')) expect(message).not.toContain(part);
    },
  );

  it('accepts a list, trims it and keeps the tokens out of the start-up JSON', () => {
    const config = loadConfig({ SUBSCRIBER_TOKENS: ` ${TOKEN_A},,${TOKEN_B} ` });
    expect(config.subscriberTokens).toEqual([TOKEN_A, TOKEN_B]);
    const shown = JSON.stringify(config);
    expect(shown).not.toContain(TOKEN_A);
    expect(shown).not.toContain(TOKEN_B);
    expect(JSON.parse(shown)).toMatchObject({ subscriberTokens: '[2 redacted]', port: 8080 });
  });
});
