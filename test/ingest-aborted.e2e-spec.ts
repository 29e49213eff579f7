import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { startApp, type RunningApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';
import { postEvent } from './support/http.js';
import { logs } from './support/log-capture.js';
import { sample, scrape } from './support/metrics.js';

const rejected = (reason: string) => `pillarbox_events_rejected_total{reason="${reason}"}`;

/** Sends the head of a POST and part of its body, then drops the connection, as a player closing its tab does. */
function abortUpload(url: string, headers: Record<string, string>, partialBody: Buffer): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      const head = Object.entries({ host: `${hostname}:${port}`, ...headers })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(`POST /api/events HTTP/1.1\r\n${head}\r\n`);
      socket.write(partialBody, () => setTimeout(() => socket.destroy(), 50));
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** A client that leaves in the middle of its upload is no error: it is counted as `aborted`, alike on both lanes. */
describe('ingest: an aborted upload', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('is counted as rejected{reason="aborted"}, not logged as an error, and the next POST is served', async () => {
    logs.clear();
    const gzipped = gzipSync(JSON.stringify({ event_name: 'START', pad: 'z'.repeat(50_000) }));
    await abortUpload(running.url, { 'content-length': '10000' }, Buffer.from('{"event_name":"START","pad":"'));
    await abortUpload(
      running.url,
      { 'transfer-encoding': 'chunked' },
      Buffer.from('20\r\n{"event_name":"START","pad":"aa'),
    );
    await abortUpload(
      running.url,
      { 'content-encoding': 'gzip', 'content-length': String(gzipped.length) },
      gzipped.subarray(0, gzipped.length >> 1),
    );

    const samples = await waitUntil(async () => {
      const s = await scrape(running.url);
      expect(sample(s, rejected('aborted'))).toBe(3);
      return s;
    });
    expect(sample(samples, rejected('other'))).toBe(0);
    expect(sample(samples, 'pillarbox_events_received_total')).toBe(0);
    expect((await postEvent(running.url, { event_name: 'STOP' })).status).toBe(204);

    // Nothing at warn level or above, and no stack trace.
    const loud = logs.json().filter((line) => (line.level as number) >= 40);
    expect(loud).toEqual([]);
    expect(logs.text()).not.toMatch(/ECONNRESET|\bat .*\.(ts|js):\d+/);
  });
});
