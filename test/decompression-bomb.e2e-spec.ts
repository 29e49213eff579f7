import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { spawnApp, waitUntilListening } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { json, postEvent, type HttpResult } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

const { BROTLI_PARAM_LGWIN, BROTLI_PARAM_QUALITY } = zlib.constants;
const MIB = 1024 * 1024;

/**
 * 50 MiB of 'a' in 53 bytes, its header announcing Brotli's largest window, 16 MiB: what
 * `brotliCompressSync(Buffer.alloc(50 * MIB, 'a'), { params: { QUALITY: 11, LGWIN: 24 } })` gives, written out so
 * that no encoder's memory blurs the measurement.
 */
const BR_BOMB = Buffer.from('z///f/glwuKxQCD3/p/////wSwDEYQGA7v0/////4ZcAiMMiAN37//z//8AvARCHBQC69x8=', 'base64');

/** Resident memory of a process, in bytes, from /proc. */
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('ingest: decompression bombs', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(async () => {
    await running.close();
  });

  const refused = (res: HttpResult) => {
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(json(res)).toMatchObject({ statusCode: 413, message: expect.stringMatching(/larger than 262144/) });
  };

  it.each([
    ['gzip', () => zlib.gzipSync(Buffer.alloc(50 * MIB, 'a'), { level: 9 })],
    ['deflate', () => zlib.deflateSync(Buffer.alloc(50 * MIB, 'a'), { level: 9 })],
    ['br', () => BR_BOMB],
  ])('refuses a %s bomb (50 MiB of one byte) with a JSON 413', async (encoding, bomb) => {
    refused(await postEvent(running.url, bomb(), { 'content-encoding': encoding }));
  });

  it('does not allocate the 16 MiB window of 50 Brotli bombs POSTed at once (RSS of a process of its own)', async () => {
    expect(BR_BOMB.length).toBeLessThan(64);
    // A process of its own: the test runner's memory moves with whatever the other spec files left behind.
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), LOG_LEVEL: 'warn' });
    try {
      await waitUntilListening(port);
      const url = `http://127.0.0.1:${port}`;
      await postEvent(url, { warm: 'up' });
      const before = rssOf(app.child.pid!);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(app.child.pid!))), 2);
      try {
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => postEvent(url, BR_BOMB, { 'content-encoding': 'br' })),
        );
        answers.forEach(refused);
      } finally {
        clearInterval(sampler);
      }
      // Decoders that live across event-loop turns, each with its 16 MiB window, show here (the old code: several
      // hundred MiB); one decode at a time with a narrowed window costs under a MiB.
      expect((peak - before) / MIB).toBeLessThan(48);
    } finally {
      app.child.kill('SIGKILL');
      await app.exited;
    }
  });

  it('still decodes, exactly, a Brotli body of MAX_EVENT_BYTES compressed with the largest window', async () => {
    // Repeats from far back (up to the body's length) need the whole window the body spans.
    const words = Array.from({ length: 2000 }, (_, i) => `w${(i * 7919) % 100_003}`);
    let text = '';
    for (let i = 0; text.length < 250_000; i++) text += `${words[i % words.length]},`;
    const event = `{"event_name":"POS","pad":"${text.slice(0, 262_144 - 64)}"}`;
    const body = zlib.brotliCompressSync(Buffer.from(event), {
      params: { [BROTLI_PARAM_QUALITY]: 11, [BROTLI_PARAM_LGWIN]: 24 },
    });
    const reader = await new SseClient(`${running.url}/events`).connect();
    try {
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      expect((await postEvent(running.url, body, { 'content-encoding': 'br' })).status).toBe(204);
      await reader.waitForEvents(1);
      expect(reader.events[0]).toBe(`${event.slice(0, -1)},"user_ip":"127.0.0.1"}`);
    } finally {
      reader.close();
    }
  });
});
