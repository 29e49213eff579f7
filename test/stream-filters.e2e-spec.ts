import { json, postEvent, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

interface Sent {
  event_name?: string;
  session_id?: string;
  n: number;
}

/** The frames of a raw stream, greeting and keep-alive comments left out. */
function frames(raw: string): string[] {
  return raw.split(/(?<=\n\n)/).filter((block) => block.startsWith('data: '));
}

async function open(url: string): Promise<SseClient> {
  const reader = await new SseClient(url).connect();
  await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting comment');
  return reader;
}

describe('stream filters on GET /events', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('sends each reader only what its filter asks for, and the unfiltered stream unchanged', async () => {
    const base = `${running.url}/events`;
    const filters: Record<string, ((e: Sent) => boolean) | null> = {
      '': null,
      '?foo=bar&access_token=x': null, // unknown parameters are ignored
      '?event_name=ERROR,START': (e) => e.event_name === 'ERROR' || e.event_name === 'START',
      '?event_name=START&event_name=ERROR': (e) => e.event_name === 'ERROR' || e.event_name === 'START',
      '?session_id=s1': (e) => e.session_id === 's1',
      '?event_name=ERROR&session_id=s1': (e) => e.event_name === 'ERROR' && e.session_id === 's1',
      '?event_name=STOP,HEARTBEAT&session_id=s2,s3': (e) =>
        (e.event_name === 'STOP' || e.event_name === 'HEARTBEAT') && (e.session_id === 's2' || e.session_id === 's3'),
    };
    const readers = new Map<string, SseClient>();
    for (const query of Object.keys(filters)) readers.set(query, await open(base + query));

    const names = ['START', 'HEARTBEAT', 'ERROR', 'STOP', undefined];
    const sessions = ['s1', 's2', 's3', undefined];
    const events: Sent[] = [];
    for (let n = 0; n < 60; n++) events.push({ event_name: names[n % 5], session_id: sessions[n % 4], n });
    // The last two match every filter between them: whatever a reader must not get was posted before its last
    // event, so it would arrive before it.
    const last = [
      { event_name: 'ERROR', session_id: 's1', n: 60 },
      { event_name: 'HEARTBEAT', session_id: 's2', n: 61 },
    ];
    // Several posts in flight at once, so that some frames share a turn and a write.
    for (let i = 0; i < events.length; i += 6) {
      const batch = events.slice(i, Math.min(i + 6, events.length));
      const results = await Promise.all(batch.map((e) => postEvent(running.url, e)));
      expect(results.map((r) => r.status)).toEqual(batch.map(() => 204));
    }
    for (const event of last) expect((await postEvent(running.url, event)).status).toBe(204);
    events.push(...last);

    const all = readers.get('')!;
    await all.waitForEvents(events.length);
    const received = all.json<Sent>();
    expect(received.map((e) => e.n).sort((a, b) => a - b)).toEqual(events.map((e) => e.n));
    const allFrames = frames(all.raw);
    expect(allFrames).toHaveLength(events.length);

    for (const [query, keep] of Object.entries(filters)) {
      const reader = readers.get(query)!;
      const expected = keep ? allFrames.filter((_, i) => keep(received[i])) : allFrames;
      expect(received.indexOf(received.filter((e) => !keep || keep(e)).at(-1)!)).toBeGreaterThanOrEqual(60);
      await reader.waitForEvents(expected.length);
      expect({ query, frames: frames(reader.raw) }).toEqual({ query, frames: expected });
      if (!keep) expect(reader.raw).toBe(all.raw);
      reader.close();
    }
  });

  it.each(['?event_name=', '?event_name=,', '?event_name=ERROR,', '?session_id=', '?event_name=START&session_id='])(
    'answers 400 with a JSON error to an empty filter value: %s',
    async (query) => {
      const res = await request(`${running.url}/events${query}`, { headers: { accept: 'text/event-stream' } });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(json(res)).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringMatching(/^(event_name|session_id) must be/),
      });
    },
  );
});

describe('stream filters and keep-alives', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ SSE_HEARTBEAT_MS: '100' });
  });
  afterAll(() => running.close());

  it('keeps a filtered stream alive while events it does not want flow to others', async () => {
    const all = await open(`${running.url}/events`);
    const errors = await open(`${running.url}/events?event_name=ERROR`);
    const greetings = errors.comments;
    const until = Date.now() + 600;
    let n = 0;
    while (Date.now() < until) {
      expect((await postEvent(running.url, { event_name: 'HEARTBEAT', n: n++ })).status).toBe(204);
      await new Promise((r) => setTimeout(r, 20));
    }
    await all.waitForEvents(n);
    expect(errors.events).toEqual([]);
    expect(errors.comments).toBeGreaterThanOrEqual(greetings + 2);
    expect(errors.raw).toMatch(/^: keep-alive$/m);
    all.close();
    errors.close();
  });
});
