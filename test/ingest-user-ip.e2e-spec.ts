import { isIP } from 'node:net';
import { postEvent } from './support/http.js';
import { appWithReader, type RunningApp } from './support/app.js';
import { logs } from './support/log-capture.js';
import { SseClient } from './support/sse-client.js';

/** The `user_ip` the stream carries for one event posted with these X-Forwarded-For hops. */
async function userIpFor(
  { running, reader }: { running: RunningApp; reader: SseClient },
  forwardedFor: string,
): Promise<unknown> {
  const before = reader.events.length;
  const res = await postEvent(running.url, '{"a":1}', { 'x-forwarded-for': forwardedFor });
  expect(res.status).toBe(204);
  await reader.waitForEvents(before + 1);
  return (JSON.parse(reader.events[before]) as { user_ip?: unknown }).user_ip;
}

const LONG = `${'9'.repeat(7990)}.1.2.3`;

/**
 * A trusted proxy passes on whatever X-Forwarded-For it received: only a hop that is an IP address counts. At the
 * first hop that is not one, the address is the hop before it, the last one known (the socket peer or a trusted
 * proxy), as for an untrusted hop. A hop with a port (`v4:port`, `[v6]:port`) is not an address either.
 */
describe('user_ip from X-Forwarded-For', () => {
  const context = appWithReader();

  it.each([
    ['a client behind a trusted proxy', '1.2.3.4, 10.0.0.7', '1.2.3.4'],
    ['an IPv6 client', '2001:db8::5', '2001:db8::5'],
    ['an IPv4-mapped IPv6 client', '::ffff:198.51.100.9', '198.51.100.9'],
    ['markup (not-an-ip <script>): the socket peer', 'not-an-ip <script>', '127.0.0.1'],
    ['an IPv4 address with a port (6.6.6.6:1234): the socket peer', '6.6.6.6:1234', '127.0.0.1'],
    ['an IPv6 address with a port ([2001:db8::1]:443): the socket peer', '[2001:db8::1]:443', '127.0.0.1'],
    ['a bracketed IPv6 address: the socket peer', '[2001:db8::1]', '127.0.0.1'],
    ['8,000 characters: the socket peer', LONG, '127.0.0.1'],
    ['an IPv6 zone made of markup: the socket peer', 'fe80::1%<b>', '127.0.0.1'],
    ['an IPv6 zone of 5,000 characters: the socket peer', `fe80::1%${'z'.repeat(5000)}`, '127.0.0.1'],
    ['junk after a trusted proxy: that proxy', 'junk, 10.0.0.7', '10.0.0.7'],
    ['junk nearest to us, a valid address beyond it: the socket peer', '5.6.7.8, junk', '127.0.0.1'],
    ['an empty hop: skipped', '5.6.7.8,,10.0.0.7', '5.6.7.8'],
  ])('%s', async (_name, forwardedFor, expected) => {
    const ip = await userIpFor(context, forwardedFor);
    expect(ip).toBe(expected);
    expect(isIP(ip as string)).not.toBe(0);
  });

  it('logs the same checked address for a stream opened through a proxy that forwards junk', async () => {
    logs.clear();
    const stream = await SseClient.open(`${context.running.url}/events`, { 'x-forwarded-for': 'evil<script>' });
    stream.close();
    const lines = logs.json().filter((l) => l.msg === 'subscriber connected');
    expect(lines.map((l) => l.ip)).toEqual(['127.0.0.1']);
    expect(logs.text()).not.toContain('evil');
  });
});

describe('user_ip with TRUST_PROXY=true (every hop trusted)', () => {
  const context = appWithReader({ TRUST_PROXY: 'true' });

  it.each([
    ['the leftmost hop when all are addresses', '5.6.7.8, 10.0.0.7, 192.0.2.1', '5.6.7.8'],
    ['the hop before the first junk one', '5.6.7.8, junk:80, 10.0.0.7', '10.0.0.7'],
    ['the socket peer when the only hop is junk', 'not-an-ip <script>', '127.0.0.1'],
  ])('%s', async (_name, forwardedFor, expected) => {
    expect(await userIpFor(context, forwardedFor)).toBe(expected);
  });
});
