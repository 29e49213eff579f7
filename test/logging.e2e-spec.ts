import { startApp, type RunningApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';
import { postEvent, request } from './support/http.js';
import { logs } from './support/log-capture.js';
import { SseClient } from './support/sse-client.js';

const TOKEN = 'log-test-token-0123456789';
const WRONG = 'wrong-log-token-9876543210';
const BODY_MARKER = 'viewer-session-7f3a9c';

type Line = Record<string, unknown> & { msg?: string; level: number; req?: { url?: string } };

describe('logs: structured JSON, access lines for streams, never a token nor an event body', () => {
  let running: RunningApp;

  beforeAll(async () => {
    logs.clear();
    running = await startApp({ SUBSCRIBER_TOKENS: TOKEN });
  });
  afterAll(() => running?.close());

  it('logs stream connects and disconnects with their duration, refusals with a redacted URL, no POST at all', async () => {
    logs.clear();
    const byQuery = await new SseClient(
      `${running.url}/events?access_token=${TOKEN}&session_id=${BODY_MARKER}`,
    ).connect();
    const byHeader = await new SseClient(`${running.url}/events`, { authorization: `Bearer ${TOKEN}` }).connect();
    await Promise.all([byQuery, byHeader].map((r) => r.waitFor((c) => c.comments > 0, 2000, 'the greeting')));
    const refused = await request(`${running.url}/events?access_token=${WRONG}`, {
      headers: { authorization: `Bearer ${WRONG}` },
    });
    expect(refused.status).toBe(401);

    const event = { event_name: 'START', session_id: BODY_MARKER, data: { url: `https://cdn.example/${BODY_MARKER}` } };
    expect((await postEvent(running.url, event)).status).toBe(204);
    expect((await postEvent(running.url, `{"session_id":"${BODY_MARKER}",`)).status).toBe(400);
    expect((await postEvent(running.url, Buffer.alloc(300 * 1024, 'a'))).status).toBe(413);
    await Promise.all([byQuery.waitForEvents(1), byHeader.waitForEvents(1)]);
    expect((await request(`${running.url}/metrics?access_token=${TOKEN}`)).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, 30));
    byQuery.close();
    byHeader.close();
    const lines = await waitUntil(
      () => {
        const all = logs.json() as Line[];
        return all.filter((l) => l.msg === 'subscriber disconnected').length === 2 && all;
      },
      5000,
      'two disconnect lines',
    );

    const connected = lines.filter((l) => l.msg === 'subscriber connected');
    expect(connected).toHaveLength(2);
    for (const line of connected) {
      expect(line).toMatchObject({ context: 'SseHub', level: 30, ip: '127.0.0.1', reqId: expect.anything() });
    }
    const disconnected = lines.filter((l) => l.msg === 'subscriber disconnected');
    for (const line of disconnected) {
      expect(line).toMatchObject({ context: 'SseHub', reason: 'client', ip: '127.0.0.1', reqId: expect.anything() });
      expect(line.durationMs).toBeGreaterThanOrEqual(30);
    }
    // The connect and disconnect lines of one stream share its request id.
    expect(new Set(disconnected.map((l) => l.reqId))).toEqual(new Set(connected.map((l) => l.reqId)));
    expect(connected.map((l) => l.req?.url).sort()).toEqual(['/events', '/events?[REDACTED]']);

    const refusal = lines.find((l) => (l.res as { statusCode?: number } | undefined)?.statusCode === 401);
    expect(refusal).toMatchObject({ level: 40, req: { method: 'GET', url: '/events?[REDACTED]' } });
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request completed',
        req: expect.objectContaining({ url: '/metrics?[REDACTED]' }),
      }),
    );

    // Nothing about the POSTs (accepted or refused), and no header, token or event content anywhere.
    expect(lines.filter((l) => l.req?.url?.startsWith('/api/events'))).toEqual([]);
    const text = logs.text();
    for (const secret of [TOKEN, WRONG, BODY_MARKER, 'Bearer', 'authorization', 'cdn.example']) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('logs: without SUBSCRIBER_TOKENS', () => {
  it('warns at start-up that anyone can read the stream', async () => {
    logs.clear();
    const running = await startApp();
    await running.close();
    expect(logs.json()).toContainEqual(
      expect.objectContaining({
        level: 40,
        context: 'Auth',
        msg: expect.stringMatching(
          /^Neither SUBSCRIBER_TOKENS nor JWT_SECRET nor JWT_JWKS_URL is set: anyone who can reach GET \/events reads/,
        ),
      }),
    );
  });
});
