import type { ServerResponse } from 'node:http';
import { jest } from '@jest/globals';
import { SseConnection } from '../src/events/sse-connection.js';
import { startApp, type RunningApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';
import { postEvent } from './support/http.js';
import { logs } from './support/log-capture.js';
import { openRawStream } from './support/sse-client.js';

/**
 * SseConnection writes HTTP chunks to the socket itself, on preconditions that Node and Nest meet today but do not
 * promise: the headers sent when the first message leaves the @Sse() handler, `res.chunkedEncoding` telling HTTP/1.1
 * from HTTP/1.0, no Content-Encoding. This fails when an upgrade breaks one of them, before a subscriber notices.
 */
describe('GET /events: the preconditions of the direct socket writes hold', () => {
  let running: RunningApp;
  const opened: Array<{ version: string; headersSent: boolean; chunked: boolean; direct: boolean }> = [];

  beforeAll(async () => {
    const open = SseConnection.open.bind(SseConnection);
    jest.spyOn(SseConnection, 'open').mockImplementation((res: ServerResponse) => {
      const connection = open(res);
      opened.push({
        version: res.req.httpVersion,
        headersSent: res.headersSent,
        chunked: res.chunkedEncoding,
        direct: connection?.direct ?? false,
      });
      return connection;
    });
    running = await startApp();
  });
  afterAll(async () => {
    await running.close();
    jest.restoreAllMocks();
  });

  it('on HTTP/1.1 (chunked) and HTTP/1.0 (raw), with the exact bytes on the wire', async () => {
    logs.clear();
    const v11 = openRawStream(running.port, '1.1');
    const v10 = openRawStream(running.port, '1.0');
    await waitUntil(() => opened.length === 2, 5000, 'both streams to open');
    expect(opened).toEqual(
      expect.arrayContaining([
        { version: '1.1', headersSent: true, chunked: true, direct: true },
        { version: '1.0', headersSent: true, chunked: false, direct: true },
      ]),
    );
    expect((await postEvent(running.url, '{"n":1}')).status).toBe(204);
    const frame = 'data: {"n":1,"user_ip":"127.0.0.1"}\n\n';
    await waitUntil(() => v11.received().endsWith('\r\n') && v10.received().endsWith(frame), 5000, 'the frame');
    expect(v11.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n/i);
    expect(v11.received()).not.toMatch(/content-encoding/i);
    expect(v11.received().endsWith(`${frame.length.toString(16)}\r\n${frame}\r\n`)).toBe(true);
    expect(v10.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(v10.received()).not.toMatch(/transfer-encoding/i);
    expect(logs.text()).not.toContain('SseConnection');
    v11.close();
    v10.close();
  });
});
