import http, { type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import net from 'node:net';

/**
 * A plain SSE reader over node:http: keeps the raw bytes and the parsed `data:` payloads, so tests can
 * check the exact wire format as well as the events.
 */
export class SseClient {
  raw = '';
  events: string[] = [];
  comments = 0;
  status = 0;
  headers: IncomingHttpHeaders = {};
  ended = false;
  private buffer = '';
  private req?: ClientRequest;
  private res?: IncomingMessage;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly url: string,
    private readonly requestHeaders: Record<string, string> = {},
  ) {}

  /** A reader of `url` that has received the stream's greeting comment: from then on it gets every event. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await new SseClient(url, headers).connect();
    await client.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    return client;
  }

  /** Resolves once the response headers arrived (any status). */
  connect(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.req = http.get(
        this.url,
        { agent: false, headers: { accept: 'text/event-stream', ...this.requestHeaders } },
        (res) => {
          this.res = res;
          this.status = res.statusCode ?? 0;
          this.headers = res.headers;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => this.onData(chunk));
          res.on('end', () => this.finish());
          res.on('close', () => this.finish());
          res.on('error', () => this.finish());
          resolve(this);
        },
      );
      this.req.on('error', (err) => {
        this.finish();
        reject(err);
      });
    });
  }

  /** Stops reading from the socket: the server's writes pile up, as with a stuck consumer. */
  pause(): void {
    this.res?.pause();
    this.res?.socket?.pause();
  }

  /**
   * Reads at most `bytesPerSecond` on average from now on, as a consumer on a slow link does: the socket is paused
   * whenever the bytes received run ahead of that rate, and resumed when the rate has caught up.
   */
  throttle(bytesPerSecond: number): void {
    const started = performance.now();
    let received = 0;
    this.res?.on('data', (chunk: string) => {
      received += Buffer.byteLength(chunk);
      const ahead = started + (received / bytesPerSecond) * 1000 - performance.now();
      if (ahead <= 0 || this.ended) return;
      this.pause();
      setTimeout(() => {
        this.res?.socket?.resume();
        this.res?.resume();
      }, ahead);
    });
  }

  close(): void {
    this.req?.destroy();
  }

  /** Waits until `predicate` holds, checked after every chunk; rejects after `timeoutMs`. */
  waitFor(predicate: (c: this) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; got ${this.events.length} events, ended=${this.ended}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  waitForEvents(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.events.length >= n, timeoutMs, `${n} events`);
  }

  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.ended, timeoutMs, 'end of stream');
  }

  /** The events parsed as JSON. */
  json<T = Record<string, unknown>>(): T[] {
    return this.events.map((e) => JSON.parse(e) as T);
  }

  private onData(chunk: string): void {
    this.raw += chunk;
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        else if (line.startsWith(':')) this.comments++;
      }
      if (data.length) this.events.push(data.join('\n'));
    }
    this.notify();
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/**
 * The same stream read below HTTP: a GET /events written by hand on a TCP socket, in HTTP/1.1 or HTTP/1.0, and
 * every byte received kept as it came (status line, headers, chunk framing), for the specs of the wire format.
 */
export function openRawStream(port: number, httpVersion: '1.1' | '1.0', path = '/events') {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (received += d));
  socket.write(`GET ${path} HTTP/${httpVersion}\r\nHost: 127.0.0.1\r\n\r\n`);
  return { received: () => received, close: () => socket.destroy() };
}
