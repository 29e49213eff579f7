import zlib from 'node:zlib';
import { postEvent } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

/** Posts one body and returns the `data:` payload the stream carried for it. */
async function roundTrip(
  running: RunningApp,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<string> {
  const reader = await new SseClient(`${running.url}/events`).connect();
  try {
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    const res = await postEvent(running.url, body, headers);
    expect(res.status).toBe(204);
    await reader.waitForEvents(1);
    return reader.events[0];
  } finally {
    reader.close();
  }
}

describe('ingest: what arrives on the stream', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it.each([
    ['application/json', { 'content-type': 'application/json' }],
    ['text/plain (sendBeacon)', { 'content-type': 'text/plain;charset=UTF-8' }],
    ['no Content-Type', {}],
    ['a form Content-Type', { 'content-type': 'application/x-www-form-urlencoded' }],
  ])('accepts a JSON object sent as %s', async (_name, headers) => {
    expect(await roundTrip(running, '{"event_name":"START","session_id":"a"}', headers)).toBe(
      '{"event_name":"START","session_id":"a","user_ip":"127.0.0.1"}',
    );
  });

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('accepts a %s body', async (encoding, compress) => {
    const body = compress(Buffer.from('{"event_name":"STOP","compressed":true}'));
    expect(await roundTrip(running, body, { 'content-encoding': encoding })).toBe(
      `{"event_name":"STOP","compressed":true,"user_ip":"127.0.0.1"}`,
    );
  });

  it('keeps keys, values, unicode and escapes exactly as sent', async () => {
    const body =
      '{"z":1,"a":{"y":[1,2.50,-0,1e3],"b":null},"text":"Grüezi – 日本語 😀","esc":"\\u00e9\\n\\"q\\"",' +
      '"big":12345678901234567890,"ls":"\u2028"}';
    expect(await roundTrip(running, body)).toBe(`${body.slice(0, -1)},"user_ip":"127.0.0.1"}`);
  });

  it('passes __proto__ and constructor keys through without polluting any prototype', async () => {
    const body = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted2":true}},"event_name":"X"}';
    const data = await roundTrip(running, body);
    expect(data).toBe(`${body.slice(0, -1)},"user_ip":"127.0.0.1"}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted2).toBeUndefined();
  });

  it('puts a pretty-printed event on one line', async () => {
    const data = await roundTrip(running, '{\n  "event_name": "START",\r\n  "n": [1,\n 2]\n}\n');
    expect(JSON.parse(data)).toEqual({ event_name: 'START', n: [1, 2], user_ip: '127.0.0.1' });
    expect(data).not.toMatch(/[\r\n]/);
  });

  it('overwrites a user_ip sent in the body', async () => {
    const data = await roundTrip(running, '{"user_ip":"9.9.9.9","a":1}');
    expect(JSON.parse(data)).toEqual({ user_ip: '127.0.0.1', a: 1 });
  });

  it('adds user_ip to an empty object', async () => {
    expect(await roundTrip(running, ' { } ')).toBe('{"user_ip":"127.0.0.1"}');
  });

  it('takes the client from X-Forwarded-For through trusted (loopback) proxies only', async () => {
    const ip = (xff: string) =>
      roundTrip(running, '{"a":1}', { 'content-type': 'application/json', 'x-forwarded-for': xff }).then(
        (d) => (JSON.parse(d) as { user_ip: string }).user_ip,
      );
    // 127.0.0.1 (the socket) is a trusted proxy; 5.6.7.8 is not, so it is the client, whatever it claims.
    expect(await ip('1.2.3.4, 5.6.7.8')).toBe('5.6.7.8');
    expect(await ip('1.2.3.4, 10.0.0.7')).toBe('1.2.3.4');
    expect(await ip('::ffff:7.7.7.7')).toBe('7.7.7.7');
  });

  it('ignores X-Forwarded-For when TRUST_PROXY=false', async () => {
    const untrusting = await startApp({ TRUST_PROXY: 'false' });
    try {
      const data = await roundTrip(untrusting, '{"a":1}', { 'x-forwarded-for': '1.2.3.4' });
      expect(JSON.parse(data)).toEqual({ a: 1, user_ip: '127.0.0.1' });
    } finally {
      await untrusting.close();
    }
  });
});
