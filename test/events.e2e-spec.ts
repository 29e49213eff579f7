import { postEvent } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { SseClient } from './support/sse-client.js';

describe('events: ingest to stream', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('delivers a text/plain beacon byte-for-byte and in order to three concurrent readers', async () => {
    const readers = await Promise.all([1, 2, 3].map(() => new SseClient(`${running.url}/events`).connect()));
    await Promise.all(readers.map((r) => r.waitFor((c) => c.comments > 0, 2000, 'the greeting comment')));
    const bodies = Array.from({ length: 20 }, (_, i) => `{"event_name":"HEARTBEAT","session_id":"s-${i}","n":${i}}`);
    for (const body of bodies) {
      const res = await postEvent(running.url, body, { 'content-type': 'text/plain;charset=UTF-8' });
      expect(res.status).toBe(204);
      expect(res.body).toBe('');
      expect(res.headers['access-control-allow-origin']).toBe('*');
    }
    await Promise.all(readers.map((r) => r.waitForEvents(bodies.length)));
    const expected = bodies.map((b) => `data: ${b.slice(0, -1)},"user_ip":"127.0.0.1"}\n\n`).join('');
    for (const reader of readers) {
      expect(reader.raw.slice(reader.raw.indexOf('data: '))).toBe(expected);
      expect(reader.raw).not.toMatch(/^(id|event):/m);
      reader.close();
    }
  });
});
