import zlib from 'node:zlib';
import { narrowBrotliWindow } from './body-reader.js';

const { BROTLI_PARAM_LGWIN, BROTLI_PARAM_QUALITY } = zlib.constants;
const KIB = 1024;

/** The window bits a Brotli stream's header announces (RFC 7932, 9.1). */
function windowBits(stream: Buffer): number {
  if ((stream[0] & 1) === 0) return 16;
  const n = (stream[0] >> 1) & 7;
  if (n) return 17 + n;
  const m = (stream[0] >> 4) & 7;
  return m ? 8 + m : 17;
}

const brotli = (data: Buffer, lgwin: number, quality = 11) =>
  zlib.brotliCompressSync(data, { params: { [BROTLI_PARAM_LGWIN]: lgwin, [BROTLI_PARAM_QUALITY]: quality } });

/** Printable noise whose second half repeats its first half: decoding needs a window of half its length. */
function farRepeats(length: number, seed: number): Buffer {
  let x = seed;
  const half = Buffer.alloc(Math.ceil(length / 2));
  for (let i = 0; i < half.length; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    half[i] = 33 + (x % 90);
  }
  return Buffer.concat([half, half]).subarray(0, length);
}

describe('narrowBrotliWindow', () => {
  it('lowers a 16 MiB window to the smallest that holds the limit, down to 256 KiB', () => {
    const bomb = () => brotli(Buffer.alloc(KIB * KIB, 'a'), 24);
    expect(windowBits(bomb())).toBe(24);
    expect(windowBits(narrowBrotliWindow(bomb(), 256 * KIB))).toBe(19); // 512 KiB - 16 >= 256 KiB
    expect(windowBits(narrowBrotliWindow(bomb(), 256 * KIB - 16))).toBe(18);
    expect(windowBits(narrowBrotliWindow(bomb(), 64))).toBe(18);
    expect(windowBits(narrowBrotliWindow(bomb(), 4 * KIB * KIB))).toBe(23);
    expect(windowBits(narrowBrotliWindow(bomb(), 64 * KIB * KIB))).toBe(24);
  });

  it.each([10, 16, 17, 18])('leaves a window of %i bits as it is', (lgwin) => {
    const stream = brotli(Buffer.from('{"a":1}'), lgwin);
    expect(windowBits(narrowBrotliWindow(Buffer.from(stream), 64))).toBe(windowBits(stream));
  });

  it.each([
    [300 * KIB, 24, 11],
    [300 * KIB, 22, 5],
    [300 * KIB, 20, 9],
    [1000 * KIB, 24, 11],
    [1000 * KIB, 21, 1],
    [20 * KIB, 24, 0],
  ])('decodes %i bytes compressed with a window of %i bits (quality %i) exactly as before', (length, lgwin, q) => {
    const data = farRepeats(length, length + lgwin + q);
    const stream = brotli(data, lgwin, q);
    const narrowed = narrowBrotliWindow(Buffer.from(stream), length);
    expect(windowBits(narrowed)).toBeLessThanOrEqual(Math.max(18, Math.ceil(Math.log2(length + 16))));
    expect(zlib.brotliDecompressSync(narrowed).equals(data)).toBe(true);
  });

  it('(the data above does need its window: narrowed below its length, it decodes wrong)', () => {
    const data = farRepeats(1000 * KIB, 1);
    const narrowed = narrowBrotliWindow(brotli(data, 24), 100 * KIB);
    let decoded: Buffer | undefined;
    try {
      decoded = zlib.brotliDecompressSync(narrowed);
    } catch {
      decoded = undefined; // a distance past the window may also be an invalid stream
    }
    expect(decoded?.equals(data)).not.toBe(true);
  });
});
