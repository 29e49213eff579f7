import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  BadRequestException,
  PayloadTooLargeException,
  RequestTimeoutException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { rejection } from '../common/rejection.js';

/**
 * Decoders of a whole received body. They run synchronously, one per event-loop turn (see `inTurn`), so that one
 * decoder at most exists in the process at any time: bodies decoded in parallel would each hold a decoder's
 * window (up to 16 MiB for Brotli) at once. Past `limit` decoded bytes they throw ERR_BUFFER_TOO_LARGE, so a bomb
 * costs `limit` bytes of output (0.1 to 1 ms at the default limit), not more.
 */
const DECODERS: Record<string, (body: Buffer, limit: number) => Buffer> = {
  gzip: (body, limit) => zlib.gunzipSync(body, { maxOutputLength: limit }),
  'x-gzip': (body, limit) => zlib.gunzipSync(body, { maxOutputLength: limit }),
  deflate: (body, limit) => zlib.inflateSync(body, { maxOutputLength: limit }),
  br: (body, limit) => zlib.brotliDecompressSync(narrowBrotliWindow(body, limit), { maxOutputLength: limit }),
};

/**
 * How much of a refused body is read and thrown away before answering. Node closes a connection whose request
 * was not read to the end, and a client still sending then fails to write (EPIPE) before it reads the answer;
 * past this, the client is not worth it.
 */
const MAX_DRAIN_BYTES = 32 * 1024 * 1024;

class TooLarge extends Error {}
class TimedOut extends Error {}

/** Requests with `Expect: 100-continue` whose `100 Continue` waits for readBody, with their response. */
const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();

/**
 * `Expect: 100-continue` on a POST to `path` (the ingest route) is answered by readBody, after the guards and once
 * the declared length fits, so that a client asking first is refused (413) before it sends a body too large, not
 * after 32 MiB of it. Any other request gets its `100 Continue` at once, as without this listener.
 */
export function answerContinueAfterLengthCheck(server: Server, path: string): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const ingest =
      req.method === 'POST' && url.startsWith(path) && (url.length === path.length || url[path.length] === '?');
    if (ingest) awaitingContinue.set(req, res);
    else res.writeContinue();
    server.emit('request', req, res);
  });
}

let lastTurn: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` in an event-loop turn of its own, after the work queued before it: between two decodes the server
 * reads its sockets, so a burst of compressed bodies delays other requests by one decode, not by all of them.
 */
function inTurn<T>(work: () => T): Promise<T> {
  const result = lastTurn.then(
    () =>
      new Promise<T>((resolve, reject) =>
        setImmediate(() => {
          try {
            resolve(work());
          } catch (err) {
            reject(err as Error);
          }
        }),
      ),
  );
  lastTurn = result.catch(() => undefined);
  return result;
}

/**
 * Lowers the window a Brotli stream announces to the smallest one that holds `limit` bytes, in place. The decoder
 * allocates its window from the stream's header (WBITS, window 2^WBITS - 16), up to 16 MiB for 51 bytes of input,
 * and fills it before it stops at `limit`. A stream that decodes to at most `limit` bytes decodes the same with
 * the lower window: no distance in it can reach further back than its own length, and a distance past the
 * bytes decoded so far is a dictionary reference whichever the window.
 */
export function narrowBrotliWindow(body: Buffer, limit: number): Buffer {
  // WBITS is 1 bit (0: 16), or 4 bits (1, then n in 1..7: 17 + n), or 7 bits (1, 000, then 10..15, 17).
  if (body.length === 0 || (body[0] & 1) === 0) return body;
  const n = (body[0] >> 1) & 7;
  if (n === 0) return body; // a window of 128 KiB at most
  let needed = 18; // the smallest of the 4-bit forms, so that the header keeps its length
  while ((1 << needed) - 16 < limit) needed++;
  if (17 + n > needed) body[0] = (body[0] & ~0b1110) | ((needed - 17) << 1);
  return body;
}

/**
 * Reads a request body, whatever its Content-Type, decoding gzip, deflate and br.
 * `limit` applies to the bytes received and, for an encoded body, to the decoded bytes too,
 * so a small compressed bomb is refused once it has grown past the limit.
 * The whole body, or the drained rest of a refused one, must arrive within `timeoutMs` (408 otherwise). A refused
 * body is drained up to MAX_DRAIN_BYTES; past that, `res` (the request's response) closes its connection.
 */
export async function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  timeoutMs: number,
): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut()), timeoutMs);
  });
  try {
    const continued = awaitingContinue.get(req);
    awaitingContinue.delete(req);
    const declaredTooLarge = Number(req.headers['content-length']) > limit;
    // Asked first and declared too large: refused before the client sends its body.
    const refuseUnsent = continued !== undefined && declaredTooLarge;
    try {
      if (continued && !refuseUnsent) continued.writeContinue();
      if (declaredTooLarge) throw new TooLarge();
      return await read(req, limit, expired);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      // A client still waiting for `100 Continue` sends nothing: no body to drain, and none to read after it.
      // A body that goes on past the drain is not read any further: the connection closes after the answer.
      if (refuseUnsent || !(await Promise.race([drain(req), expired]))) res.setHeader('Connection', 'close');
      throw rejection('too_large', new PayloadTooLargeException(`The event is larger than ${limit} bytes`));
    }
  } catch (err) {
    if (!(err instanceof TimedOut)) throw err;
    throw rejection('timeout', new RequestTimeoutException(`The body did not arrive within ${timeoutMs} ms`));
  } finally {
    clearTimeout(timer);
  }
}

async function read(req: IncomingMessage, limit: number, expired: Promise<never>): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return collect(req, limit, expired);
  const decode = DECODERS[encoding];
  if (!decode) {
    // The header is the client's text: quoted, and cut short (it may be as long as the whole request head).
    const shown = encoding.length > 64 ? `${encoding.slice(0, 64)}…` : encoding;
    throw rejection(
      'encoding',
      new UnsupportedMediaTypeException(
        `Content-Encoding ${JSON.stringify(shown)} is not supported: send one of gzip, deflate, br, or none`,
      ),
    );
  }
  const body = await collect(req, limit, expired);
  try {
    return await inTurn(() => decode(body, limit));
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
    throw rejection('encoding', new BadRequestException(`The ${encoding} body could not be decoded`));
  }
}

function collect(stream: Readable, limit: number, expired: Promise<never>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', fail);
      chunks.length = 0;
    };
    const fail = (err: unknown) => {
      stop();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(new TooLarge());
      chunks.push(chunk);
    };
    const onEnd = () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      stop();
      resolve(body);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', fail);
    expired.catch(fail);
  });
}

/**
 * Reads the rest of a refused request and throws it away, up to MAX_DRAIN_BYTES; resolves true when the request
 * ended (or went) within it, false when the limit was reached and the rest is left unread.
 */
function drain(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded || req.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    let drained = 0;
    const finish = (ended: boolean) => {
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      if (!ended) req.pause();
      resolve(ended);
    };
    const done = () => finish(true);
    const onData = (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > MAX_DRAIN_BYTES) finish(false);
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
    req.resume();
  });
}
