import { EVENT_EXAMPLES } from '../src/schema/event-examples.js';
import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent } from './support/http.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';

const valid = {
  event_name: 'HEARTBEAT',
  session_id: 'strict-1',
  timestamp: 1750000030000,
  version: 1,
  data: { position: 12, nested: [1, { deep: true }] },
};

describe('strict schema: STRICT_SCHEMA=true', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ STRICT_SCHEMA: 'true' });
  });
  afterAll(() => running.close());

  it('accepts each event type and passes it through untouched, extra keys included', async () => {
    const reader = await new SseClient(`${running.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting comment');
    const bodies = [
      ...Object.values(EVENT_EXAMPLES).map((e) => JSON.stringify(e)),
      // Key order, spacing, extra keys and number spellings are the client's.
      '{"version":1.0, "data":{"x":1e3,"list":[]}, "timestamp":1750000000000, "session_id":"s", "event_name":"STOP", "extra":{"a":null}}',
      JSON.stringify({ ...valid, version: 2.5, data: {} }),
    ];
    for (const body of bodies) expect((await postEvent(running.url, body)).status).toBe(204);
    await reader.waitForEvents(bodies.length);
    expect(reader.events).toEqual(bodies.map((b) => `${b.slice(0, b.lastIndexOf('}'))},"user_ip":"127.0.0.1"}`));
    reader.close();
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['an unknown event_name', { ...valid, event_name: 'PAUSE' }, ['event_name']],
    ['a lower-case event_name', { ...valid, event_name: 'start' }, ['event_name']],
    ['an empty session_id', { ...valid, session_id: '' }, ['session_id']],
    ['a numeric session_id', { ...valid, session_id: 42 }, ['session_id']],
    ['a fractional timestamp', { ...valid, timestamp: 1750000030000.5 }, ['timestamp']],
    ['a timestamp as text', { ...valid, timestamp: '1750000030000' }, ['timestamp']],
    ['a version as text', { ...valid, version: '1' }, ['version']],
    ['data as an array', { ...valid, data: [1, 2] }, ['data']],
    ['data as null', { ...valid, data: null }, ['data']],
    ['data as text', { ...valid, data: 'x' }, ['data']],
    ['an empty object', {}, ['event_name', 'session_id', 'timestamp', 'version', 'data']],
    ['only data', { data: {} }, ['event_name', 'session_id', 'timestamp', 'version']],
  ])('refuses %s with 400 and the fields at fault', async (_what, event, fields) => {
    const res = await postEvent(running.url, event);
    expect(res.status).toBe(400);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const body = json(res);
    expect(body).toMatchObject({ statusCode: 400, error: 'Bad Request', fields });
    expect(Array.isArray(body.message)).toBe(true);
    const messages = body.message as string[];
    expect(messages.length).toBeGreaterThanOrEqual(fields.length);
    for (const field of fields) expect(messages.some((m) => m.startsWith(`${field} `))).toBe(true);
  });

  it('counts the refusals under reason="schema", apart from malformed JSON', async () => {
    const before = sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="schema"}');
    expect((await postEvent(running.url, { ...valid, event_name: 'NOPE' })).status).toBe(400);
    expect((await postEvent(running.url, '{broken')).status).toBe(400);
    const after = await scrape(running.url);
    expect(sample(after, 'pillarbox_events_rejected_total{reason="schema"}')).toBe(before + 1);
    expect(sample(after, 'pillarbox_events_rejected_total{reason="invalid_json"}')).toBe(1);
  });
});

describe('strict schema: off by default', () => {
  it('accepts any JSON object, envelope or not', async () => {
    const running = await startApp();
    try {
      for (const event of [{}, { event_name: 'PAUSE', data: [] }, { ...valid, timestamp: 'yesterday' }]) {
        expect((await postEvent(running.url, event)).status).toBe(204);
      }
      expect(sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="schema"}')).toBe(0);
    } finally {
      await running.close();
    }
  });
});
