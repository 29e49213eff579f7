import {
  AppConfig,
  ConfigError,
  defaultMaxSubscribers,
  ENV_VARIABLES,
  loadConfig,
  MIN_DERIVED_SUBSCRIBERS,
  misspeltVariables,
  FILTER_BUDGET_BYTES,
  MEMORY_SHARE,
  START_BUDGET_BYTES,
  SUBSCRIBER_BUDGET_BYTES,
} from './app-config.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual(Object.assign(new AppConfig(), {}));
    expect(loadConfig({})).toMatchObject({
      port: 8080,
      maxEventBytes: 262144,
      trustProxy: 'loopback, linklocal, uniquelocal',
      sseHeartbeatMs: 15000,
      sseMaxBufferBytes: 1048576,
      maxSubscribers: 10000,
      shutdownDrainMs: 5000,
      shutdownTimeoutMs: 10000,
      bodyTimeoutMs: 30000,
    });
    expect(loadConfig({}).host).toBeUndefined();
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '127.0.0.1',
      MAX_EVENT_BYTES: '1024',
      TRUST_PROXY: '10.0.0.0/8, loopback',
      SSE_HEARTBEAT_MS: '500',
      SSE_MAX_BUFFER_BYTES: '2048',
      MAX_SUBSCRIBERS: '5',
      SHUTDOWN_DRAIN_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '0',
      HEALTH_MAX_HEAP_MB: '64',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      maxEventBytes: 1024,
      trustProxy: '10.0.0.0/8, loopback',
      sseHeartbeatMs: 500,
      sseMaxBufferBytes: 2048,
      maxSubscribers: 5,
      shutdownDrainMs: 0,
      shutdownTimeoutMs: 0,
      healthMaxHeapMb: 64,
    });
  });

  it.each([
    ['true', true],
    ['false', false],
    ['2', 2],
    ['::1, fe80::/10', '::1, fe80::/10'],
  ])('reads TRUST_PROXY=%s as Express does', (raw, expected) => {
    expect(loadConfig({ TRUST_PROXY: raw }).trustProxy).toEqual(expected);
  });

  it.each([
    ['PORT', '70000'],
    ['PORT', '80a'],
    ['MAX_EVENT_BYTES', '1e3'],
    ['MAX_SUBSCRIBERS', '0'],
    ['SHUTDOWN_DRAIN_MS', '-1'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', 'somewhere'],
    ['BODY_TIMEOUT_MS', '50'],
    ['BODY_TIMEOUT_MS', '300001'],
    ['HOST', 'not..valid'],
    ['HOST', '[::1]'],
    ['HOST', '-host'],
    ['HOST', 'a b'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}=`));
  });

  it('names every variable at fault at once', () => {
    expect(() => loadConfig({ PORT: 'x', MAX_SUBSCRIBERS: 'y' })).toThrow(/PORT=.*\n.*MAX_SUBSCRIBERS=/s);
  });

  it.each(['localhost', 'my-host.internal', '0.0.0.0', '::', '::1', '10.1.2.3'])('accepts HOST=%s', (host) => {
    expect(loadConfig({ HOST: host }).host).toBe(host);
  });

  // Empty too: `SUBSCRIBER_TOKENS="$(cat secret-file)"` with an empty file must not open the stream.
  it.each([',', ' , ', ',,', '', '   '])(
    'refuses SUBSCRIBER_TOKENS=%j, set but with no token, without echoing it',
    (raw) => {
      expect(() => loadConfig({ SUBSCRIBER_TOKENS: raw })).toThrow(
        /^Invalid configuration: SUBSCRIBER_TOKENS=<redacted>: .*no token/,
      );
    },
  );

  // The same for the JWT variables: empty, they would leave the stream open where a closed one was meant.
  it.each([
    ['JWT_SECRET', '', '<redacted>'],
    ['JWT_SECRET', '   ', '<redacted>'],
    ['JWT_JWKS_URL', '', '""'],
  ])('refuses %s=%j, set but empty, showing %s', (name, raw, shown) => {
    expect(() => loadConfig({ [name]: raw })).toThrow(
      `Invalid configuration: ${name}=${shown}: ${name} is set but empty (unset it for none at all)`,
    );
  });

  const closing = ['SUBSCRIBER_TOKENS', 'JWT_SECRET', 'JWT_JWKS_URL'];
  it.each(Object.keys(ENV_VARIABLES).filter((name) => !closing.includes(name)))(
    'takes %s set but empty as unset: its default',
    (name) => {
      expect(loadConfig({ [name]: '' })).toEqual(loadConfig({}));
      expect(loadConfig({ [name]: ' \t ' })).toEqual(loadConfig({}));
    },
  );

  it('prints one line per variable at fault', () => {
    let message = '';
    try {
      loadConfig({ PORT: 'x' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('Invalid configuration: PORT="x": PORT must be an integer');
  });

  it('says what applies: the bounds of an integer that is out of them, true or false for a boolean', () => {
    expect(() => loadConfig({ MAX_EVENT_BYTES: '1MB' })).toThrow(
      new ConfigError('Invalid configuration: MAX_EVENT_BYTES="1MB": MAX_EVENT_BYTES must be an integer'),
    );
    expect(() => loadConfig({ MAX_EVENT_BYTES: '1' })).toThrow(
      new ConfigError('Invalid configuration: MAX_EVENT_BYTES="1": MAX_EVENT_BYTES must not be less than 64'),
    );
    expect(() => loadConfig({ ANONYMIZE_USER_IP: '1' })).toThrow(
      new ConfigError('Invalid configuration: ANONYMIZE_USER_IP="1": ANONYMIZE_USER_IP must be true or false'),
    );
  });
});

describe('MAX_SUBSCRIBERS and the container memory limit', () => {
  const MiB = 1024 * 1024;

  it('defaults to 10,000 without a memory limit', () => {
    expect(loadConfig({}).maxSubscribers).toBe(10_000);
    expect(defaultMaxSubscribers(undefined)).toBe(10_000);
  });

  it('derives the defaults from the memory limit, by the documented rule', () => {
    const limit = 512 * MiB;
    const budget = limit / 4;
    const expected = Math.floor(
      (limit * MEMORY_SHARE - START_BUDGET_BYTES - budget) / (SUBSCRIBER_BUDGET_BYTES + FILTER_BUDGET_BYTES),
    );
    expect(expected).toBeLessThan(10_000);
    expect(loadConfig({}, { memoryLimitBytes: limit })).toMatchObject({
      sseBufferBudgetBytes: budget,
      maxSubscribers: expected,
      maxSubscribersPerAddress: 256,
      memoryLimitBytes: limit,
    });
    // A budget set by hand leaves more or less room for subscribers.
    expect(loadConfig({ SSE_BUFFER_BUDGET_BYTES: String(64 * MiB) }, { memoryLimitBytes: limit }).maxSubscribers).toBe(
      Math.floor(
        (limit * MEMORY_SHARE - START_BUDGET_BYTES - 64 * MiB) / (SUBSCRIBER_BUDGET_BYTES + FILTER_BUDGET_BYTES),
      ),
    );
    expect(loadConfig({}).sseBufferBudgetBytes).toBe(128 * MiB);
    // Small containers still take some subscribers; large ones stop at 10,000.
    expect(defaultMaxSubscribers(64 * MiB)).toBe(MIN_DERIVED_SUBSCRIBERS);
    expect(defaultMaxSubscribers(8192 * MiB)).toBe(10_000);
  });

  it('keeps an explicit MAX_SUBSCRIBERS whatever the limit', () => {
    expect(loadConfig({ MAX_SUBSCRIBERS: '20000' }, { memoryLimitBytes: 256 * MiB }).maxSubscribers).toBe(20_000);
  });

  it('lets one address hold a quarter of MAX_SUBSCRIBERS at most, 256 by default', () => {
    expect(loadConfig({}).maxSubscribersPerAddress).toBe(256);
    expect(loadConfig({ MAX_SUBSCRIBERS: '100' }).maxSubscribersPerAddress).toBe(25);
    expect(loadConfig({ MAX_SUBSCRIBERS: '100', MAX_SUBSCRIBERS_PER_ADDRESS: '90' }).maxSubscribersPerAddress).toBe(90);
  });

  it('validates HEALTH_MAX_RSS_PERCENT (1-100, default 90)', () => {
    expect(loadConfig({}).healthMaxRssPercent).toBe(90);
    expect(loadConfig({ HEALTH_MAX_RSS_PERCENT: '75' }).healthMaxRssPercent).toBe(75);
    expect(() => loadConfig({ HEALTH_MAX_RSS_PERCENT: '0' })).toThrow(/HEALTH_MAX_RSS_PERCENT/);
    expect(() => loadConfig({ HEALTH_MAX_RSS_PERCENT: '101' })).toThrow(/HEALTH_MAX_RSS_PERCENT/);
  });
});

describe('misspeltVariables', () => {
  it.each([
    ['REDIS_URl', 'REDIS_URL'],
    ['redis_url', 'REDIS_URL'],
    ['SUBSCRIBER_TOKEN', 'SUBSCRIBER_TOKENS'],
    ['MAX_SUBSCRIBER', 'MAX_SUBSCRIBERS'],
    ['REDIS_CHANEL', 'REDIS_CHANNEL'],
    ['REDSI_URL', 'REDIS_URL'],
  ])('warns about %s, naming %s', (name, meant) => {
    expect(misspeltVariables({ [name]: 'secret-value', [meant]: 'x' })).toEqual([
      `${name} is not a variable of this service and is ignored: did you mean ${meant}?`,
    ]);
  });

  it("stays quiet about the service's own variables and the usual others", () => {
    const env = { PATH: '/bin', HOME: '/root', HOSTNAME: 'h', PWD: '/', NODE_ENV: 'production', PORT: '1', HOST: 'x' };
    expect(misspeltVariables({ ...env, REDIS_URL: 'redis://r', LOG_LEVEL: 'info', TERM: 'xterm' })).toEqual([]);
  });
});
