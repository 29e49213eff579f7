import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { json, postEvent, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

const JSON_CT = { 'content-type': 'application/json' };

describe('ingest: bad input is refused with a JSON 4xx and affects nobody else', () => {
  let running: RunningApp;
  let reader: SseClient;

  beforeAll(async () => {
    running = await startApp({ MAX_EVENT_BYTES: '4096' });
    reader = await new SseClient(`${running.url}/events`).connect();
  });
  afterAll(async () => {
    reader.close();
    await running.close();
  });

  const deep = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const cases: Array<[string, string | Buffer, Record<string, string>, number, RegExp]> = [
    ['invalid JSON', '{"event_name":', JSON_CT, 400, /not valid JSON/],
    ['an empty body', '', JSON_CT, 400, /empty/],
    ['a blank body', '  \n ', JSON_CT, 400, /empty/],
    ['an array', '[{"a":1}]', JSON_CT, 400, /JSON object/],
    ['a string', '"hello"', JSON_CT, 400, /JSON object/],
    ['a number', '42', JSON_CT, 400, /JSON object/],
    ['null', 'null', JSON_CT, 400, /JSON object/],
    ['trailing garbage', '{"a":1} x', JSON_CT, 400, /not valid JSON/],
    ['two objects', '{"a":1}{"b":2}', JSON_CT, 400, /not valid JSON/],
    ['nesting of 65 levels', deep(65), JSON_CT, 400, /nested deeper/],
    ['deep arrays', '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}', {}, 413, /larger than/],
    ['a broken gzip stream', Buffer.from('not gzip at all'), { ...JSON_CT, 'content-encoding': 'gzip' }, 400, /gzip/],
    [
      'a truncated gzip stream',
      zlib.gzipSync('{"a":"' + 'x'.repeat(100) + '"}').subarray(0, 20),
      { 'content-encoding': 'gzip' },
      400,
      /gzip/,
    ],
    ['an unknown encoding', '{"a":1}', { 'content-encoding': 'compress' }, 415, /not supported/],
    // A list is two encodings applied in turn: said plainly, not as if `br` were unsupported.
    [
      'a list of encodings',
      zlib.gzipSync('{"a":1}'),
      { 'content-encoding': 'gzip, br' },
      415,
      /^Content-Encoding "gzip, br" is not supported: send one of gzip, deflate, br, or none$/,
    ],
    [
      'a long unknown encoding, not echoed whole',
      '{"a":1}',
      { 'content-encoding': 'z'.repeat(8000) },
      415,
      /^Content-Encoding "z{64}…" is not supported/,
    ],
    ['a body over MAX_EVENT_BYTES', '{"pad":"' + 'x'.repeat(5000) + '"}', JSON_CT, 413, /larger than 4096/],
    [
      'a gzip bomb (small compressed, large decompressed)',
      zlib.gzipSync('{"pad":"' + ' '.repeat(1_000_000) + '"}'),
      { 'content-encoding': 'gzip' },
      413,
      /larger than 4096/,
    ],
  ];

  it.each(cases)('refuses %s', async (_name, body, headers, status, message) => {
    const res = await postEvent(running.url, body, headers);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const error = json(res);
    expect(error.statusCode).toBe(status);
    expect(typeof error.error).toBe('string');
    expect(error.message).toMatch(message);
    // The payload is never echoed back.
    expect(res.body).not.toContain('event_name');
    expect(res.body).not.toContain('xxxxxxxx');
  });

  it('accepts the next valid event after all the bad ones, and broadcast none of them', async () => {
    const res = await postEvent(running.url, { event_name: 'START', after: 'bad input' });
    expect(res.status).toBe(204);
    await reader.waitForEvents(1);
    expect(reader.json()).toEqual([{ event_name: 'START', after: 'bad input', user_ip: '127.0.0.1' }]);
  });

  it('refuses a 10 MB body sent with a Content-Length, and the client can read the answer', async () => {
    const res = await postEvent(running.url, 'x'.repeat(10 * 1024 * 1024), JSON_CT);
    expect(res.status).toBe(413);
    expect(json(res).statusCode).toBe(413);
  });

  it('refuses an oversized chunked body (no Content-Length) while it streams in', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${running.url}/api/events`,
        { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write('{"pad":"');
      for (let i = 0; i < 10; i++) req.write('y'.repeat(1024));
      req.end('"}');
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).statusCode).toBe(413);
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('answers %s /api/events with 405 and Allow', async (method) => {
    const res = await request(`${running.url}/api/events`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST, OPTIONS');
    expect(json(res)).toMatchObject({ statusCode: 405, error: 'Method Not Allowed' });
  });

  it.each(['POST', 'PUT', 'DELETE'])('answers %s /events with 405 and Allow', async (method) => {
    const res = await request(`${running.url}/events`, { method, body: '{"a":1}' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(json(res).statusCode).toBe(405);
  });

  /** Sends raw bytes on a new connection; resolves with everything the server wrote before it closed. */
  function rawExchange(bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(new URL(running.url).port as unknown as number, '127.0.0.1');
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
      socket.end(bytes);
    });
  }

  it.each([
    [
      'conflicting Content-Lengths',
      'POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      400,
    ],
    ['a broken request line', 'NOT HTTP\r\n\r\n', 400],
    ['3,000 headers', 'POST /api/events HTTP/1.1\r\nHost: x\r\n' + 'X-A: b\r\n'.repeat(3000) + '\r\n', 431],
  ])(
    'answers a request that Node cannot parse (%s) with a JSON 4xx any origin can read',
    async (_name, bytes, status) => {
      const answer = await rawExchange(bytes);
      const [head, body] = answer.split('\r\n\r\n');
      expect(head.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`);
      expect(head).toMatch(/^content-type: application\/json/im);
      expect(head).toMatch(/^access-control-allow-origin: \*$/im);
      expect(JSON.parse(body)).toEqual({
        statusCode: status,
        message: `Malformed HTTP request: ${http.STATUS_CODES[status]}`,
        error: http.STATUS_CODES[status],
      });
    },
  );

  it('is still healthy and the reader is still connected', async () => {
    const res = await request(`${running.url}/health`);
    expect(res.status).toBe(200);
    expect(reader.ended).toBe(false);
  });
});
