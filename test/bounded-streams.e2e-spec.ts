import net from 'node:net';
import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent, request } from './support/http.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

const MiB = 1024 * 1024;

/** Sends `text` on a new connection and collects what comes back until the server closes it (or `timeoutMs`). */
function exchange(
  port: number,
  text: string | Buffer,
  timeoutMs = 10_000,
): Promise<{ answer: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closed: false });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closed: true });
    });
    socket.write(text);
  });
}

describe('bounded whatever clients do: one memory budget for every stream', () => {
  let running: RunningApp;
  beforeAll(async () => {
    // Only the process-wide budget cuts here: the per-subscriber bounds are far above what the test sends.
    running = await startApp({ SSE_BUFFER_BUDGET_BYTES: String(4 * MiB), SSE_MAX_BUFFER_BYTES: String(512 * MiB) });
  });
  afterAll(() => running.close());

  it('cuts off the readers that never read, each with its own filter, and keeps every reader that keeps up whole', async () => {
    const stuck = await Promise.all(
      Array.from({ length: 20 }, (_, i) => SseClient.open(`${running.url}/events?event_name=big,x${i}`)),
    );
    for (const reader of stuck) reader.pause();
    const all = await SseClient.open(`${running.url}/events`);
    const filtered = await SseClient.open(`${running.url}/events?event_name=big`);
    const pad = 'p'.repeat(250_000);
    const total = 60;
    for (let n = 0; n < total; n++) {
      expect((await postEvent(running.url, { event_name: 'big', n, pad })).status).toBe(204);
    }
    await Promise.all([all, filtered].map((r) => r.waitForEvents(total, 20_000)));
    for (const r of [all, filtered]) {
      expect(r.json<{ n: number }>().map((e) => e.n)).toEqual(Array.from({ length: total }, (_, n) => n));
      expect(r.ended).toBe(false);
    }
    // 15 MB for each stuck reader, far past the budget (each frame counted once, whatever its readers): cut off.
    await waitUntil(async () => sample(await scrape(running.url), 'pillarbox_subscribers') === 2, 10_000, 'the cuts');
    const samples = await scrape(running.url);
    expect(sample(samples, 'pillarbox_subscribers_disconnected_total{reason="slow"}')).toBe(20);
    expect(sample(samples, 'pillarbox_stream_unsent_budget_bytes')).toBe(4 * MiB);
    expect(sample(samples, 'pillarbox_stream_unsent_bytes')).toBeLessThanOrEqual(4 * MiB);
    expect((await request(`${running.url}/health`)).status).toBe(200);
    for (const r of [...stuck, all, filtered]) r.close();
  }, 60_000);
});

describe('bounded whatever clients do: filters, addresses, connections', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ MAX_SUBSCRIBERS_PER_ADDRESS: '3', MAX_EVENT_BYTES: '1024' });
  });
  afterAll(() => running.close());

  it.each([
    ['session_id[]=abc', 'session_id[]', 'session_id'],
    ['session_id%5B%5D=abc', 'session_id[]', 'session_id'],
    ['SESSION_ID=abc', 'SESSION_ID', 'session_id'],
    ['Event_Name=ERROR', 'Event_Name', 'event_name'],
  ])('refuses ?%s with a 400 naming the parameter, instead of an unfiltered stream', async (query, name, meant) => {
    const res = await request(`${running.url}/events?${query}`);
    expect(res.status).toBe(400);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(json(res).message).toBe(
      `Unknown query parameter ${JSON.stringify(name)}: the filter is spelt ${meant}, as in ?${meant}=a,b`,
    );
  });

  it('refuses too many filter values (400) and too long a query (414), naming the limit', async () => {
    const ids = Array.from({ length: 65 }, (_, i) => `s${i}`).join(',');
    const many = await request(`${running.url}/events?session_id=${ids}`);
    expect([many.status, json(many).message]).toEqual([400, 'session_id lists 65 values: at most 64']);
    const long = await request(`${running.url}/events?session_id=${'a'.repeat(100)}&pad=${'b'.repeat(4000)}`);
    expect([long.status, json(long).message]).toEqual([
      414,
      'The query string of /events has 4116 characters: at most 4096',
    ]);
  });

  it('lets one address hold MAX_SUBSCRIBERS_PER_ADDRESS streams, and other addresses theirs', async () => {
    const mine = await Promise.all([1, 2, 3].map(() => SseClient.open(`${running.url}/events`)));
    const refused = await request(`${running.url}/events`);
    expect([refused.status, json(refused).message]).toEqual([
      429,
      'Too many streams from this address (MAX_SUBSCRIBERS_PER_ADDRESS=3)',
    ]);
    // Another client behind the (trusted, loopback) proxy.
    const other = await SseClient.open(`${running.url}/events`, { 'x-forwarded-for': '198.51.100.7' });
    expect(other.status).toBe(200);
    mine[0].close();
    await waitUntil(async () => (await request(`${running.url}/events`, { method: 'HEAD' })).status === 200);
    const samples = await scrape(running.url);
    expect(sample(samples, 'pillarbox_subscribers_disconnected_total{reason="per_address"}')).toBeGreaterThanOrEqual(1);
    for (const r of [...mine, other]) r.close();
    await waitUntil(async () => sample(await scrape(running.url), 'pillarbox_subscribers') === 0);
  });

  // Express routes /events in any case and with a trailing slash: each spelling opens a stream.
  it.each(['/events', '/EVENTS', '/events/', '/Events?event_name=START'])(
    'closes a connection that pipelines a POST behind its stream (%s), and broadcasts nothing of it',
    async (path) => {
      const reader = await SseClient.open(`${running.url}/events`, { 'x-forwarded-for': '198.51.100.8' });
      const post = (body: string) =>
        `POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const { answer, closed } = await exchange(
        running.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n${post('{"pipelined":1}')}${post('{"pipelined":2}')}`,
      );
      // Closed, with the stream's start or nothing of it: never an answer to the POSTs.
      expect(closed).toBe(true);
      expect(answer).toMatch(/^(HTTP\/1\.1 200 OK\r\n[^]*)?$/);
      expect(answer).not.toMatch(/HTTP\/1\.1 204/);
      // A marker after: whatever was broadcast of the pipelined POSTs would have arrived before it.
      expect((await postEvent(running.url, { marker: 1 })).status).toBe(204);
      await reader.waitForEvents(1);
      expect(reader.json()).toEqual([{ marker: 1, user_ip: '127.0.0.1' }]);
      expect(
        sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="after_stream"}'),
      ).toBeGreaterThanOrEqual(1);
      reader.close();
    },
  );

  it('serves a POST on a connection whose stream was refused, once the refusal is answered', async () => {
    const { answer } = await exchange(running.port, 'GET /events?SESSION_ID=x HTTP/1.1\r\nHost: x\r\n\r\n', 1000).catch(
      () => ({ answer: '' }),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    // The same, then a POST on the same keep-alive connection, sent after the 400 arrived.
    const socket = net.connect(running.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write('GET /events?SESSION_ID=x HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil(() => /\r\n\r\n\{[^]*\}$/.test(received), 5000, 'the 400');
    const body = '{"after":"refusal"}';
    socket.write(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await waitUntil(() => /HTTP\/1\.1 204/.test(received), 5000, 'the 204');
    socket.destroy();
  });

  it('closes the connection of a body that goes on past the drain, with a 413', async () => {
    const head =
      'POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000000\r\n\r\n';
    const tooLarge = async () =>
      sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="too_large"}');
    const before = await tooLarge();
    const socket = net.connect(running.port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.write(head);
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    // 64 MiB at most, past the 32 MiB drain: the server closes the connection before all of it is sent.
    while (!socket.destroyed && sent < 64 * MiB) {
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
      sent += chunk.length;
    }
    await closed;
    // The 413 with `Connection: close`, unless the reset of the unread rest reached the client before it.
    expect(answer).toMatch(/^(HTTP\/1\.1 413 Payload Too Large\r\n[^]*connection: close[^]*)?$/i);
    expect(sent).toBeLessThan(64 * MiB);
    // Refused as too large, whether or not its answer reached the client.
    expect(await tooLarge()).toBe(before + 1);
  }, 30_000);
});
