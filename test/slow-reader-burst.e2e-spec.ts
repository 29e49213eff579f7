import net from 'node:net';
import { json, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

async function subscriberStats(url: string) {
  const details = json(await request(`${url}/health`)).details as Record<string, Record<string, unknown>>;
  return details.subscribers as { count: number; disconnected: Record<string, number> };
}

/**
 * POSTs every body on its own connection, all but its last byte first; once they are all sent, the last bytes go
 * out together, so that the events reach the hub at the same moment, however loaded the machine. Resolves with the
 * statuses.
 */
async function postAtOnce(port: number, bodies: string[]): Promise<number[]> {
  const sockets = await Promise.all(
    bodies.map(
      (body) =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            const head = `POST /api/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${body.length}\r\n\r\n`;
            socket.write(head + body.slice(0, -1), () => resolve(socket));
          });
          socket.on('error', reject);
        }),
    ),
  );
  const answers = sockets.map(
    (socket) =>
      new Promise<number>((resolve) => {
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('\r\n\r\n')) {
            resolve(Number(text.split(' ')[1]));
            socket.destroy();
          }
        });
      }),
  );
  sockets.forEach((socket, i) => socket.write(bodies[i].slice(-1)));
  return Promise.all(answers);
}

const EVENT_BYTES = 250_000;
const BURST = 24;
const READ_RATE = 1_500_000;
/** The slow-reader window, shorter than the service's 10 s so that the test does not wait it out. */
const WINDOW_MS = 2000;

/**
 * A consumer that keeps up on average survives a burst of events as large as MAX_EVENT_BYTES (256 KiB by default);
 * only a backlog that lasts cuts a consumer off. SSE_MAX_BUFFER_BYTES is 256 KiB here rather than 1 MiB: on
 * loopback the kernel's socket buffers take several MB of a burst, and how much varies from run to run; with the
 * lower threshold, the backlog left to the service passes it whatever they take. The paced reader takes about two
 * windows to work the burst off, its backlog shrinking from one to the next.
 */
describe('slow readers: a burst is not a sustained backlog', () => {
  let running: RunningApp;

  beforeAll(async () => {
    // Keep-alives every 500 ms: a stream that gets nothing else is still looked at.
    running = await startApp(
      { SSE_HEARTBEAT_MS: '500', SSE_MAX_BUFFER_BYTES: String(256 * 1024) },
      { timings: { slowReaderWindowMs: WINDOW_MS } },
    );
  });
  afterAll(() => running.close());

  it(`a reader at ${READ_RATE / 1000} KB/s gets all of ${BURST} events of ${EVENT_BYTES / 1000} KB arriving at once; one that stops reading is cut off`, async () => {
    const paced = await new SseClient(`${running.url}/events`).connect();
    const stopped = await new SseClient(`${running.url}/events`).connect();
    await Promise.all([paced, stopped].map((r) => r.waitFor((c) => c.comments > 0, 2000, 'the greeting')));
    paced.throttle(READ_RATE);
    stopped.pause();

    const pad = 'b'.repeat(EVENT_BYTES - 30);
    const statuses = await postAtOnce(
      running.port,
      Array.from({ length: BURST }, (_, seq) => `{"seq":${seq},"pad":"${pad}"}`),
    );
    expect(statuses).toEqual(Array(BURST).fill(204));

    // About 6 MB at 1.5 MB/s: some 4 s.
    await paced.waitFor((c) => c.events.length >= BURST || c.ended, 40_000, `${BURST} events`);
    expect(paced.ended).toBe(false);
    expect(paced.events).toHaveLength(BURST);
    expect(new Set(paced.json<{ seq: number }>().map((e) => e.seq)).size).toBe(BURST);

    // The stopped reader's backlog never shrinks: it is cut off, the paced one stays.
    await waitUntil(async () => (await subscriberStats(running.url)).disconnected.slow === 1, 20_000, 'a slow cut-off');
    const stats = await subscriberStats(running.url);
    expect(stats.count).toBe(1);
    expect(stats.disconnected.slow).toBe(1);
    paced.close();
    stopped.close();
  }, 90_000);
});
