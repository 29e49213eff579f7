import net from 'node:net';
import { startApp, type RunningApp } from './support/app.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';

const MAX_EVENT_BYTES = 4096;

/**
 * Sends the head of a POST with `Expect: 100-continue` and waits for the server's first answer; sends `body` only
 * if that answer is `100 Continue`, then reads until the server closes or answers a final status.
 */
function postExpectingContinue(
  url: string,
  path: string,
  contentLength: number,
  body: string,
): Promise<{ first: string; final: string; bodySent: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let text = '';
    let bodySent = false;
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${contentLength}\r\nExpect: 100-continue\r\n\r\n`,
      );
    });
    const finish = () => {
      const responses = text.split(/(?=HTTP\/1\.1 )/);
      resolve({ first: responses[0] ?? '', final: responses.at(-1) ?? '', bodySent });
      socket.destroy();
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (!bodySent && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        bodySent = true;
        socket.write(body);
      }
      // A final answer, whole: its head and as many bytes as its Content-Length.
      const final = text.slice(text.lastIndexOf('HTTP/1.1 '));
      const headEnd = final.indexOf('\r\n\r\n');
      if (final.startsWith('HTTP/1.1 100 ') || headEnd < 0) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(final)?.[1] ?? 0);
      if (final.length - headEnd - 4 >= length) finish();
    });
    socket.on('end', finish);
    socket.on('error', reject);
  });
}

/**
 * A client that asks before sending (`Expect: 100-continue`, as curl does for large bodies) learns that its body is
 * too large before it sends a byte of it, on both lanes; one that fits is told to go on.
 */
describe('ingest: Expect: 100-continue', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp({ MAX_EVENT_BYTES: String(MAX_EVENT_BYTES) });
  });
  afterAll(() => running.close());

  it('refuses a declared length above MAX_EVENT_BYTES with a JSON 413 instead of 100 Continue', async () => {
    const before = sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="too_large"}');
    const answer = await postExpectingContinue(running.url, '/api/events', 50_000_000, '');
    expect(answer.first).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.bodySent).toBe(false);
    expect(answer.first).toMatch(/\r\nAccess-Control-Allow-Origin: \*\r\n/i);
    expect(answer.first).toMatch(/\r\nConnection: close\r\n/i);
    expect(JSON.parse(answer.first.slice(answer.first.indexOf('\r\n\r\n') + 4))).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: `The event is larger than ${MAX_EVENT_BYTES} bytes`,
    });
    const after = sample(await scrape(running.url), 'pillarbox_events_rejected_total{reason="too_large"}');
    expect(after).toBe(before + 1);
  });

  it.each(['/api/events', '/api/events?from=player'])(
    'answers 100 Continue to a body that fits on %s, then broadcasts it',
    async (path) => {
      const reader = await SseClient.open(`${running.url}/events`);
      try {
        const body = '{"event_name":"START","session_id":"expect"}';
        const answer = await postExpectingContinue(running.url, path, body.length, body);
        expect(answer.first).toBe('HTTP/1.1 100 Continue\r\n\r\n');
        expect(answer.final).toMatch(/^HTTP\/1\.1 204 /);
        await reader.waitForEvents(1);
        expect(reader.json()[0]).toMatchObject({ session_id: 'expect' });
      } finally {
        reader.close();
      }
    },
  );

  it('still answers 100 Continue on the other routes', async () => {
    const answer = await postExpectingContinue(running.url, '/events', 2, '{}');
    expect(answer.first).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(answer.final).toMatch(/^HTTP\/1\.1 405 /);
  });
});
