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

function tooLarge(limit: number): PayloadTooLargeException {
  return rejection('too_large', new PayloadTooLargeException(`The event is larger than ${limit} bytes`));
}

/**
 * Reads a request body, whatever its Content-Type, decoding gzip, deflate and br.
 * `limit` applies to the bytes received and, for an encoded body, to the decoded bytes too,
 * so a small compressed bomb is refused once it has grown past the limit.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
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
    if (received > limit) decoder.destroy(tooLarge(limit));
  };
  req.on('data', onData);
  req.pipe(decoder);
  return collect(decoder, limit).then(
    (body) => body,
    (err: unknown) => {
      req.unpipe(decoder);
      req.off('data', onData);
      req.resume(); // drain what is left, so the answer can still be read by the client
      if (err instanceof PayloadTooLargeException) throw err;
      throw rejection('encoding', new BadRequestException(`The ${encoding} body could not be decoded`));
    },
  );
}

function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.resume(); // drain the rest unread, so the client can still read the answer
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    stream.once('error', reject);
  });
}
