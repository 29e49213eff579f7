import { ConfigError, loadConfig } from '../src/config/app-config.js';
import { appWithReader, startApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';
import { postEvent, request } from './support/http.js';
import { logs } from './support/log-capture.js';
import { SseClient } from './support/sse-client.js';

const TOKEN = 'anonymize-test-token-0123';

/** Client addresses (through the trusted loopback proxy) and the network each becomes. */
const CLIENTS: Array<[string, string]> = [
  ['203.0.113.77', '203.0.113.0'],
  ['2001:db8:1234:5678:9abc::1', '2001:db8:1234::'],
  ['2001:0DB8:0000:ffff::1', '2001:db8::'],
  ['::ffff:198.51.100.23', '198.51.100.0'],
];

/**
 * ANONYMIZE_USER_IP=true: the stream, the logs and the console only ever see the client's network (IPv4 /24,
 * IPv6 /48); the rate limiter alone keeps the full address, in memory.
 */
describe('ANONYMIZE_USER_IP=true', () => {
  const context = appWithReader(
    { ANONYMIZE_USER_IP: 'true', SUBSCRIBER_TOKENS: TOKEN },
    { authorization: `Bearer ${TOKEN}` },
  );

  it.each(CLIENTS)('an event from %s carries user_ip %s', async (client, network) => {
    const before = context.reader.events.length;
    expect((await postEvent(context.running.url, '{"n":1.50}', { 'x-forwarded-for': client })).status).toBe(204);
    await context.reader.waitForEvents(before + 1);
    expect(context.reader.events[before]).toBe(`{"n":1.50,"user_ip":"${network}"}`);
  });

  it('an event from the socket peer itself, and one with a user_ip of its own', async () => {
    const before = context.reader.events.length;
    expect((await postEvent(context.running.url, '{"user_ip":"203.0.113.77","a":1}')).status).toBe(204);
    await context.reader.waitForEvents(before + 1);
    expect(context.reader.events[before]).toBe('{"user_ip":"127.0.0.0","a":1}');
  });

  it('logs stream connects, disconnects and request lines with the network only', async () => {
    logs.clear();
    const forwarded = CLIENTS.map(([client]) => client);
    for (const client of forwarded) {
      const stream = await SseClient.open(`${context.running.url}/events?access_token=${TOKEN}`, {
        'x-forwarded-for': client,
      });
      stream.close();
      // A refused stream and a scrape: pino-http's access lines.
      expect((await request(`${context.running.url}/events`, { headers: { 'x-forwarded-for': client } })).status).toBe(
        401,
      );
      const metrics = await request(`${context.running.url}/metrics`, {
        headers: { 'x-forwarded-for': client, authorization: `Bearer ${TOKEN}` },
      });
      expect(metrics.status).toBe(200);
    }
    const lines = await waitUntil(() => {
      const all = logs.json();
      expect(all.filter((l) => l.msg === 'subscriber disconnected')).toHaveLength(forwarded.length);
      return all;
    });
    const streamIps = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('subscriber')).map((l) => l.ip);
    const requestIps = lines.filter((l) => l.req).map((l) => (l.req as { ip?: unknown }).ip);
    const networks = CLIENTS.map(([, network]) => network);
    expect(new Set(streamIps)).toEqual(new Set(networks));
    expect(new Set(requestIps)).toEqual(new Set(networks));
    expect(requestIps.length).toBeGreaterThanOrEqual(2 * forwarded.length);
    const text = logs.text();
    for (const full of ['203.0.113.77', '5678', '9abc', 'ffff::1', '198.51.100.23']) expect(text).not.toContain(full);
  });
});

describe('ANONYMIZE_USER_IP and the rate limiter', () => {
  it('keeps counting per full address: two clients of one /24 have a limit each', async () => {
    const running = await startApp({ ANONYMIZE_USER_IP: 'true', RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const post = (client: string) => postEvent(running.url, '{"a":1}', { 'x-forwarded-for': client });
      expect((await post('203.0.113.1')).status).toBe(204);
      expect((await post('203.0.113.1')).status).toBe(204);
      expect((await post('203.0.113.1')).status).toBe(429);
      expect((await post('203.0.113.2')).status).toBe(204);
      expect((await post('203.0.113.2')).status).toBe(204);
      expect((await post('203.0.113.2')).status).toBe(429);
    } finally {
      await running.close();
    }
  });
});

describe('ANONYMIZE_USER_IP off (the default) and bad values', () => {
  it('is off by default: user_ip is the full address', async () => {
    const running = await startApp();
    const reader = await new SseClient(`${running.url}/events`).connect();
    try {
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      await postEvent(running.url, '{"a":1}', { 'x-forwarded-for': '203.0.113.77' });
      await reader.waitForEvents(1);
      expect(reader.events[0]).toBe('{"a":1,"user_ip":"203.0.113.77"}');
    } finally {
      reader.close();
      await running.close();
    }
  });

  it.each(['yes', '1', 'on'])('refuses ANONYMIZE_USER_IP=%s naming the variable', (value) => {
    expect(() => loadConfig({ ANONYMIZE_USER_IP: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ANONYMIZE_USER_IP: value })).toThrow(/ANONYMIZE_USER_IP=/);
  });
});
