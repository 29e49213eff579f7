import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { allowAnyOrigin, CORS_HEADERS } from '../common/cors.js';

/**
 * Bytes for every subscriber of a flush, ready for the socket: as they are for a response without chunked
 * encoding (HTTP/1.0), and framed as one HTTP chunk for the others. Written to the socket directly: through
 * `res.write()`, Node would frame every write again and send three buffers per subscriber.
 */
export interface WireChunk {
  readonly raw: Buffer;
  readonly framed: Buffer;
}

const CRLF = Buffer.from('\r\n');

export function wireChunk(raw: Buffer): WireChunk {
  return { raw, framed: Buffer.concat([Buffer.from(`${raw.length.toString(16)}\r\n`), raw, CRLF]) };
}

export const KEEP_ALIVE = wireChunk(Buffer.from(': keep-alive\n\n'));

/**
 * The headers of a stream's response, set as Nest's `@Sse()` sends them:
 * - `Connection: close` instead of the `keep-alive` that Nest writes, so that the connection ends with the stream.
 *   Otherwise a proxy whose stream ended (a shutdown ends them all) would put the connection back in its
 *   keep-alive pool and could send a POST on it just as this instance closes it (nginx answers that POST 502).
 *   Reusing a connection after a stream would only save one handshake, rarely.
 * - CORS, among the headers Nest passes rather than with `res.setHeader()` beforehand: a response with no header set
 *   before `writeHead()` keeps none of them once they are sent (Node stores set headers, one array each, for the
 *   response's life: about 0.7 kB per stream). A refusal answered instead (an exception filter's) gets CORS too.
 * Called in the handler, before anything can be answered.
 */
export function setUpStreamHeaders(res: ServerResponse): void {
  type WriteHead = (this: ServerResponse, status: number, ...rest: unknown[]) => ServerResponse;
  const writeHead = res.writeHead as WriteHead;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    // Called once: the response's own writeHead is put back, and this closure is not kept for the stream's life
    // (put back, not deleted: deleting a property makes V8 keep the response's properties in a larger dictionary).
    res.writeHead = writeHead as ServerResponse['writeHead'];
    const last = rest.length - 1;
    const headers = rest[last];
    if (last >= 0 && typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
      const kept = Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'connection');
      rest[last] = { ...CORS_HEADERS, ...Object.fromEntries(kept), Connection: 'close' };
    } else {
      allowAnyOrigin(res); // not a stream: a refusal, readable by any origin
    }
    return writeHead.call(res, status, ...rest);
  } as ServerResponse['writeHead'];
}

const logger = new Logger('SseConnection');
let warned = false;

/**
 * One subscriber's stream on GET /events, and the only code of the service that writes to a socket itself.
 *
 * Preconditions of the direct writes, checked when a connection opens:
 * - the response's headers are sent: Nest's `@Sse()` sends them synchronously on the first message;
 * - HTTP/1.x: Node then tells by `res.chunkedEncoding` whether the body is chunked (1.1) or raw (1.0), and the
 *   response owns its socket (HTTP/2 multiplexes streams on one);
 * - nothing transforms the body: no compression middleware on /events (no Content-Encoding).
 * When one of them does not hold, the connection writes through `res.write()`: correct, only slower, with one
 * warning in the log. test/sse-connection.e2e-spec.ts fails when a Node or Nest upgrade breaks them.
 */
export class SseConnection {
  readonly connectedAt = Date.now();
  /** When anything (events, greeting, keep-alive) was last written to this stream. */
  lastWriteAt = this.connectedAt;

  private constructor(
    readonly res: ServerResponse,
    /** The socket written to directly; undefined when the preconditions do not hold. */
    private readonly socket: Socket | undefined,
    private readonly chunked: boolean,
  ) {}

  /** The connection of a response whose headers Nest just sent; undefined when it has no body (HEAD) or socket. */
  static open(res: ServerResponse): SseConnection | undefined {
    const { socket, req } = res;
    if (!socket || req?.method === 'HEAD') return undefined;
    const direct =
      res.headersSent &&
      req?.httpVersionMajor === 1 &&
      typeof res.chunkedEncoding === 'boolean' &&
      res.getHeader('content-encoding') === undefined;
    if (!direct && !warned) {
      warned = true;
      logger.warn(
        'An SSE response is not a plain HTTP/1.x response with its headers sent: streams are written through ' +
          'res.write(), which is slower (see sse-connection.ts)',
      );
    }
    return new SseConnection(res, direct ? socket : undefined, res.chunkedEncoding);
  }

  /** Whether writes go to the socket directly (the preconditions hold). */
  get direct(): boolean {
    return this.socket !== undefined;
  }

  write(chunk: WireChunk, now: number): void {
    this.lastWriteAt = now;
    if (this.socket) this.socket.write(this.chunked ? chunk.framed : chunk.raw);
    else this.res.write(chunk.raw);
  }

  /**
   * Writes the comment that opens the stream, before any event, when the hub has taken the stream over from Nest
   * (see SseHub.attach()). Through `res.write()`, as Nest writes its own: Node holds the line that Nest writes after
   * the headers in the response until the next tick, and a write to the socket would pass it.
   */
  greet(): void {
    this.res.write(': connected\n\n');
  }

  /** Bytes written and not yet taken by the client. */
  get unsentBytes(): number {
    return this.socket ? this.socket.writableLength : this.res.writableLength;
  }

  /** Ends the stream cleanly: the client may reconnect. */
  end(): void {
    this.res.end();
  }

  /** Drops the connection at once: the client did not read. */
  destroy(): void {
    this.res.destroy();
  }
}
