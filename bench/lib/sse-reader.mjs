// A plain node:http Server-Sent Events reader, as a browser's EventSource would be: one connection per reader.
import http from 'node:http';
import { nowUs } from './util.mjs';

export class SseReader {
  /**
   * @param {object} o
   * @param {number} o.port
   * @param {string} [o.path]
   * @param {(reader: SseReader, data: string, tUs: number) => void} [o.onEvent] data: the joined `data:` lines
   */
  constructor({ port, path = '/events', onEvent }) {
    this.port = port;
    this.path = path;
    this.onEvent = onEvent ?? null;
    this.status = 0;
    this.bytes = 0;
    this.events = 0;
    this.comments = 0;
    this.closed = false;
    this.closedByUs = false;
    this.error = null;
    /** Scratch fields for the pool that owns the reader. */
    this.count = 0;
    this.probeSeen = false;
    this.buffer = '';
  }

  /**
   * Resolves once the request is sent (a server may hold its headers until the first event, as the Go original
   * does); rejects on a connection error or timeout. `status` is set when the headers arrive.
   */
  connect(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: this.port,
          path: this.path,
          agent: false,
          headers: { accept: 'text/event-stream', 'cache-control': 'no-cache' },
        },
        (res) => {
          clearTimeout(timer);
          this.res = res;
          this.status = res.statusCode;
          res.setEncoding('latin1'); // byte for byte: the parser only looks for ASCII
          res.on('data', (chunk) => this.onData(chunk));
          res.on('error', (err) => (this.error ??= err.code || err.message));
          res.on('close', () => (this.closed = true));
          resolve(this);
        },
      );
      this.req = req;
      const timer = setTimeout(() => req.destroy(new Error('connect timeout')), timeoutMs);
      req.on('finish', () => {
        clearTimeout(timer);
        resolve(this);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        this.error ??= err.code || err.message;
        this.closed = true;
        reject(err);
      });
    });
  }

  /** Stops reading from the socket: the server's writes pile up in the kernel, then in the server. */
  pause() {
    this.res?.pause();
    this.res?.socket?.pause();
  }

  resume() {
    this.res?.socket?.resume();
    this.res?.resume();
  }

  /** Whether the server ended or broke the stream (not this reader). */
  get closedByServer() {
    return this.closed && !this.closedByUs;
  }

  destroy() {
    if (this.closed) return;
    this.closedByUs = true;
    this.req?.destroy();
  }

  onData(chunk) {
    const tUs = nowUs(); // one receipt time for every event of this read
    this.bytes += chunk.length;
    let text = this.buffer + chunk;
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    let start = 0;
    let end;
    while ((end = text.indexOf('\n\n', start)) >= 0) {
      this.onBlock(text.slice(start, end), tUs);
      start = end + 2;
    }
    this.buffer = start ? text.slice(start) : text;
  }

  onBlock(block, tUs) {
    let data;
    if (block.startsWith('data: ') && !block.includes('\n')) {
      data = block.slice(6);
    } else {
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) {
          const value = line.slice(line.startsWith('data: ') ? 6 : 5);
          data = data === undefined ? value : `${data}\n${value}`;
        } else if (line.startsWith(':')) {
          this.comments++;
        }
      }
    }
    if (data === undefined) return;
    this.events++;
    this.onEvent?.(this, data, tUs);
  }
}
