import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadConfig } from '../config/app-config.js';
import { httpLoggerOptions, redactQuery } from './logging.module.js';

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
    // Behind a trusted proxy (TRUST_PROXY's default takes loopback): the forwarded address.
    const raw = {
      socket: { remoteAddress: '127.0.0.1' },
      headers: { 'x-forwarded-for': '198.51.100.1' },
    } as unknown as IncomingMessage;
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
