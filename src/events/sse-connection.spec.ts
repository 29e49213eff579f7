import type { ServerResponse } from 'node:http';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { SseConnection, wireChunk } from './sse-connection.js';

/** A response as Node leaves it; `socket` records the direct writes, `write` the ones through the response. */
function response(overrides: Record<string, unknown> = {}) {
  const socketWrites: string[] = [];
  const resWrites: string[] = [];
  const res = {
    req: { method: 'GET', httpVersionMajor: 1 },
    headersSent: true,
    chunkedEncoding: true,
    socket: { writableLength: 0, write: (b: Buffer) => socketWrites.push(b.toString()) },
    writableLength: 0,
    write: (b: Buffer) => resWrites.push(b.toString()),
    getHeader: () => undefined,
    ...overrides,
  };
  return { res: res as unknown as ServerResponse, socketWrites, resWrites };
}

describe('SseConnection', () => {
  const chunk = wireChunk(Buffer.from('data: {}\n\n'));
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  afterAll(() => warn.mockRestore());

  it('writes framed chunks to the socket of a chunked HTTP/1.1 response whose headers are sent', () => {
    const { res, socketWrites, resWrites } = response();
    const connection = SseConnection.open(res);
    expect(connection?.direct).toBe(true);
    connection?.write(chunk, 5);
    expect(socketWrites).toEqual(['a\r\ndata: {}\n\n\r\n']);
    expect(resWrites).toEqual([]);
    expect(connection?.lastWriteAt).toBe(5);
  });

  it.each([
    ['headers not sent yet', { headersSent: false }],
    ['HTTP/2', { req: { method: 'GET', httpVersionMajor: 2 } }],
    ['a compressed body', { getHeader: (name: string) => (name === 'content-encoding' ? 'gzip' : undefined) }],
  ])('writes through the response when a precondition fails: %s', (_what, overrides) => {
    const { res, socketWrites, resWrites } = response(overrides);
    const connection = SseConnection.open(res);
    expect(connection?.direct).toBe(false);
    connection?.write(chunk, 1);
    expect(resWrites).toEqual(['data: {}\n\n']);
    expect(socketWrites).toEqual([]);
  });

  it('warns once, not once per stream, when it falls back', () => {
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/written through res\.write\(\)/);
  });

  it('opens nothing for a HEAD request or a response without a socket', () => {
    expect(SseConnection.open(response({ req: { method: 'HEAD', httpVersionMajor: 1 } }).res)).toBeUndefined();
    expect(SseConnection.open(response({ socket: null }).res)).toBeUndefined();
  });
});
