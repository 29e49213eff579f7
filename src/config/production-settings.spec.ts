import { ConfigError, loadConfig } from './app-config.js';

describe('production settings in the environment', () => {
  it('defaults: stream open, no rate limit, no strict schema, info JSON logs', () => {
    expect(loadConfig({})).toMatchObject({
      subscriberTokens: [],
      rateLimitPerMinute: 0,
      strictSchema: false,
      logLevel: 'info',
      logFormat: 'json',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      SUBSCRIBER_TOKENS: 'abcdefghijklmnop,qrstuvwxyz012345==',
      RATE_LIMIT_PER_MINUTE: '120',
      STRICT_SCHEMA: 'TRUE',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'pretty',
    });
    expect(config).toMatchObject({
      subscriberTokens: ['abcdefghijklmnop', 'qrstuvwxyz012345=='],
      rateLimitPerMinute: 120,
      strictSchema: true,
      logLevel: 'warn',
      logFormat: 'pretty',
    });
    expect(loadConfig({ STRICT_SCHEMA: 'false' }).strictSchema).toBe(false);
  });

  it.each([
    ['RATE_LIMIT_PER_MINUTE', '-1'],
    ['RATE_LIMIT_PER_MINUTE', '10/s'],
    ['STRICT_SCHEMA', 'yes'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_FORMAT', 'text'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}="${value.replace('/', '\\/')}": ${name} `));
  });
});
