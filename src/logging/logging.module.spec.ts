import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/app-config.js';
import { httpLoggerOptions, jsonLinesToStdout, redactQuery } from './logging.module.js';

describe('redactQuery', () => {
  it.each([
    ['/events', '/events'],
    ['/events?access_token=secret', '/events?[REDACTED]'],
    ['/events?', '/events?[REDACTED]'],
    ['/metrics?a=1&access_token=x#frag', '/metrics?[REDACTED]'],
    [undefined, ''],
  ])('%j -> %j', (url, expected) => {
    expect(redactQuery(url)).toBe(expected);
  });
});

describe('httpLoggerOptions', () => {
  const options = httpLoggerOptions(loadConfig({ LOG_LEVEL: 'debug' }));

  it('takes LOG_LEVEL', () => {
    expect(options.level).toBe('debug');
  });

  it('serializes a request without headers or query', () => {
    const serialize = options.serializers!.req as (req: object) => Record<string, unknown>;
    const raw = { ip: '198.51.100.1' };
    const req = {
      id: 7,
      method: 'GET',
      url: '/events?access_token=t',
      headers: { authorization: 'Bearer t' },
      query: { access_token: 't' },
      raw,
    };
    expect(serialize(req)).toEqual({ id: 7, method: 'GET', url: '/events?[REDACTED]', ip: '198.51.100.1' });
  });

  it.each<[string, number, string]>([
    ['/events', 200, 'silent'],
    ['/events?access_token=x', 200, 'silent'],
    ['/events', 401, 'warn'],
    ['/events', 503, 'error'],
    ['/metrics', 200, 'info'],
    ['/docs', 404, 'warn'],
  ])('logs %s answered %d at %s', (url, statusCode, level) => {
    const req = { url, originalUrl: url } as never;
    expect(options.customLogLevel!(req, { statusCode } as ServerResponse as never, undefined)).toBe(level);
  });
});

describe('jsonLinesToStdout', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'json-lines-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every line, whole and in order, multi-byte characters included, when many come during a write', async () => {
    const file = path.join(dir, 'out.log');
    const fd = openSync(file, 'w');
    const stream = jsonLinesToStdout(fd) as ReturnType<typeof jsonLinesToStdout> &
      NodeJS.EventEmitter & {
        end(): void;
      };
    // One synchronous loop: the first line starts a write, the others wait for it (the case the byte mode is for).
    const lines = Array.from({ length: 3000 }, (_, i) => `${JSON.stringify({ i, msg: i % 3 ? 'é€😀' : 'ascii' })}\n`);
    for (const line of lines) stream.write(line);
    // end() writes what is left, then closes the file.
    const closed = once(stream, 'close');
    stream.end();
    await closed;
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });
});
