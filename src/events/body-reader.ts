import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { BadRequestException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { rejection } from './rejection.js';

const DECODERS: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/**
 * How much of a refused body is read and thrown away before answering. Node closes a connection whose request
 * was not read to the end, and a client still sending then fails to write (EPIPE) before it reads the answer;
 * past this, the client is not worth it.
 */
const MAX_DRAIN_BYTES = 32 * 1024 * 1024;

class TooLarge extends Error {}

/**
 * Reads a request body, whatever its Content-Type, decoding gzip, deflate and br.
 * `limit` applies to the bytes received and, for an encoded body, to the decoded bytes too,
 * so a small compressed bomb is refused once it has grown past the limit.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  try {
    return await read(req, limit);
  } catch (err) {
    if (!(err instanceof TooLarge)) throw err;
    await drain(req);
    throw rejection('too_large', new PayloadTooLargeException(`The event is larger than ${limit} bytes`));
  }
}

function read(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(new TooLarge());
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return collect(req, limit);
  const makeDecoder = DECODERS[encoding];
  if (!makeDecoder) {
    return Promise.reject(
      rejection(
        'encoding',
        new UnsupportedMediaTypeException(`Content-Encoding ${encoding} is not supported (gzip, deflate, br)`),
      ),
    );
  }
  const decoder = makeDecoder();
  let received = 0;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) decoder.destroy(new TooLarge());
  };
  req.on('data', onData);
  req.pipe(decoder);
  return collect(decoder, limit).catch((err: unknown) => {
    req.unpipe(decoder);
    req.off('data', onData);
    decoder.destroy();
    if (err instanceof TooLarge) throw err;
    throw rejection('encoding', new BadRequestException(`The ${encoding} body could not be decoded`));
  });
}

function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        chunks.length = 0;
        reject(new TooLarge());
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    stream.once('error', reject);
  });
}

/** Reads the rest of a refused request and throws it away, up to MAX_DRAIN_BYTES. */
function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let drained = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > MAX_DRAIN_BYTES) done();
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
    req.resume();
  });
}
