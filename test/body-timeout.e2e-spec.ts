import net from 'node:net';
import { postEvent } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { sample, scrape } from './support/metrics.js';

const timeouts = async (url: string) => sample(await scrape(url), 'pillarbox_events_rejected_total{reason="timeout"}');

interface RawAnswer {
  text: string;
  /** Milliseconds from the last byte sent to the server's end of the connection. */
  closedAfterMs: number;
}

/**
 * Sends the headers of a POST announcing `length` bytes and `sent` of them, then nothing more; resolves once the
 * server has answered and closed the connection (or after 10 s, with whatever came).
 */
function stallingUpload(port: number, headers: string, sent: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let sentAt = 0;
    const giveUp = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ text, closedAfterMs: Date.now() - sentAt });
    });
    socket.write(`POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
    socket.write(sent, () => (sentAt = Date.now()));
  });
}

describe.each([
  ['the lane before Express', {}],
  ['the Nest route (RATE_LIMIT_PER_MINUTE set)', { RATE_LIMIT_PER_MINUTE: '100000' }],
])('ingest on %s: a body that does not arrive within BODY_TIMEOUT_MS', (_lane, env) => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ ...env, BODY_TIMEOUT_MS: '400', MAX_EVENT_BYTES: '1024' });
  });
  afterAll(() => running.close());

  const expectTimeoutAnswer = (answer: RawAnswer) => {
    const [head, body] = answer.text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toMatch(/\r\nconnection: close\r\n/i);
    expect(head).toMatch(/\r\naccess-control-allow-origin: \*\r\n/i);
    expect(JSON.parse(body)).toMatchObject({ statusCode: 408, message: expect.stringMatching(/400 ms/) });
    // Answered and closed at the deadline, not at Node's 300 s request timeout.
    expect(answer.closedAfterMs).toBeLessThan(5000);
  };

  it('gets a JSON 408 and its connection closed when it stalls half-way', async () => {
    const before = await timeouts(running.url);
    const answer = await stallingUpload(running.port, 'Content-Length: 40\r\n', '{"event_name":"START",');
    expectTimeoutAnswer(answer);
    expect(await timeouts(running.url)).toBe(before + 1);
  });

  it('gets a JSON 408 when the rest of an oversized body, being drained, stalls', async () => {
    expectTimeoutAnswer(await stallingUpload(running.port, 'Content-Length: 5000\r\n', 'x'.repeat(2000)));
  });

  it('still takes a whole event right after', async () => {
    expect((await postEvent(running.url, { event_name: 'AFTER' })).status).toBe(204);
  });
});
