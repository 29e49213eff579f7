import { waitUntil } from './support/wait-until.js';
import { json, postEvent, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

async function subscriberStats(url: string) {
  const details = json(await request(`${url}/health`)).details as Record<string, Record<string, unknown>>;
  return details.subscribers as { count: number; disconnected: Record<string, number> };
}

const EVENT_BYTES = 250_000;
const BURST = 24;
const READ_RATE = 500_000;

/**
 * A consumer that keeps up on average survives a burst of events as large as MAX_EVENT_BYTES (default settings:
 * 256 KiB events, SSE_MAX_BUFFER_BYTES 1 MiB); only a backlog that lasts cuts a consumer off.
 */
describe('slow readers: a burst is not a sustained backlog', () => {
  let running: RunningApp;

  beforeAll(async () => {
    // Keep-alives every 500 ms: a stream that gets nothing else is still looked at.
    running = await startApp({ SSE_HEARTBEAT_MS: '500' });
  });
  afterAll(() => running.close());

  it(`a reader at ${READ_RATE / 1000} KB/s gets all of ${BURST} events of ${EVENT_BYTES / 1000} KB posted at once; one that stops reading is cut off`, async () => {
    const paced = await new SseClient(`${running.url}/events`).connect();
    const stopped = await new SseClient(`${running.url}/events`).connect();
    await Promise.all([paced, stopped].map((r) => r.waitFor((c) => c.comments > 0, 2000, 'the greeting')));
    paced.throttle(READ_RATE);
    stopped.pause();

    const pad = 'b'.repeat(EVENT_BYTES - 30);
    const statuses = await Promise.all(
      Array.from({ length: BURST }, (_, seq) => postEvent(running.url, `{"seq":${seq},"pad":"${pad}"}`)),
    );
    expect(statuses.map((r) => r.status)).toEqual(Array(BURST).fill(204));

    // About 6 MB at 500 KB/s: some 12 s.
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
