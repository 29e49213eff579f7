import { ConfigError, isRedisUrl, loadConfig, redactUrl } from './app-config.js';

describe('Redis configuration', () => {
  it('runs alone by default, on the default channel', () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisChannel).toBe('pillarbox:events');
    expect(loadConfig({ REDIS_URL: '  ' }).redisUrl).toBeUndefined();
  });

  it.each([
    'redis://localhost',
    'redis://redis:6379/0',
    'rediss://user:p%40ss@cache.example.com:6380/2',
    'redis://:secret@10.0.0.5',
    'redis://[::1]:6379',
  ])('accepts %s', (url) => {
    expect(isRedisUrl(url)).toBe(true);
    expect(loadConfig({ REDIS_URL: url, REDIS_CHANNEL: 'staging:events' })).toMatchObject({
      redisUrl: url,
      redisChannel: 'staging:events',
    });
  });

  it.each([
    'localhost:6379',
    'http://localhost:6379',
    'REDIS://localhost',
    'redis://',
    'redis://host:port',
    'redis://host/zero',
    'redis://host/0/1',
    '/var/run/redis.sock',
    'redis://:secret%pw@host',
    'redis://us%er:pw@host',
  ])('refuses %s, naming REDIS_URL', (url) => {
    expect(isRedisUrl(url)).toBe(false);
    expect(() => loadConfig({ REDIS_URL: url })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: url })).toThrow(/REDIS_URL=.*must be a redis:\/\//);
  });

  it('does not echo a password, in errors or in the logged configuration', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://:hunter2@host' })).toThrow(/REDIS_URL="http:\/\/:\*\*\*@host/);
    expect(() => loadConfig({ REDIS_URL: 'redis://:hunter2@host:x' })).not.toThrow(/hunter2/);
    const config = loadConfig({ REDIS_URL: 'rediss://app:hunter2@cache:6380/1' });
    expect(JSON.stringify(config)).toContain('"redisUrl":"rediss://app:***@cache:6380/1"');
    expect(JSON.stringify(config)).not.toContain('hunter2');
    expect(redactUrl('redis://cache:6379')).toBe('redis://cache:6379');
    // A user name with a lone %, which ioredis could not decode: refused, the password not echoed.
    expect(() => loadConfig({ REDIS_URL: 'redis://us%er:hunter2%x@host' })).toThrow(
      /REDIS_URL="redis:\/\/us%er:\*\*\*@host"/,
    );
  });

  it('echoes a REDIS_URL that is wrong but holds no secret, so that the mistake shows', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis//cache:6379' })).toThrow(/REDIS_URL="redis\/\/cache:6379"/);
    expect(() => loadConfig({ REDIS_URL: 'redis://cache:6379/x' })).toThrow(/REDIS_URL="redis:\/\/cache:6379\/x"/);
    expect(redactUrl('not a url:pw@host')).toBe('***@host');
    expect(redactUrl('redis//user:pw@host')).toBe('***@host');
    expect(redactUrl('tcp://user:pw@host:1:2')).toBe('tcp://***@host:1:2');
  });

  it('does not echo a password given in the query string, which ioredis reads too', () => {
    const config = loadConfig({ REDIS_URL: 'redis://cache:6379/0?password=hunter2&family=6' });
    expect(JSON.stringify(config)).toContain('"redisUrl":"redis://cache:6379/0?password=***&family=***"');
    expect(redactUrl('redis://a:6379?password=hunter2,redis://b:6379?password=hunter2')).not.toContain('hunter2');
    expect(() => loadConfig({ REDIS_URL: 'redis://:x%y@cache?password=hunter2' })).not.toThrow(/hunter2/);
  });

  it('refuses a channel name longer than 256 characters', () => {
    expect(() => loadConfig({ REDIS_CHANNEL: 'x'.repeat(257) })).toThrow(/REDIS_CHANNEL/);
  });
});

describe('Redis Cluster configuration', () => {
  it('takes one or more comma-separated seed URLs with REDIS_CLUSTER=true', () => {
    const config = loadConfig({ REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://:pw@a:7000, rediss://:pw@b:7001' });
    expect(config).toMatchObject({ redisCluster: true, redisUrl: 'rediss://:pw@a:7000, rediss://:pw@b:7001' });
    expect(JSON.stringify(config)).toContain('"redisUrl":"rediss://:***@a:7000,rediss://:***@b:7001"');
    expect(loadConfig({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000' }).redisCluster).toBe(true);
    expect(loadConfig({}).redisCluster).toBe(false);
  });

  it('refuses several URLs without REDIS_CLUSTER=true, naming REDIS_URL', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://a:7000,redis://b:7001' })).toThrow(
      /REDIS_URL=.*several, comma-separated, only with REDIS_CLUSTER=true/,
    );
  });

  it('refuses a bad seed URL or a database number in cluster mode, without echoing a password', () => {
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000,b:7001' })).toThrow(
      /REDIS_URL=.*seed nodes/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://:hunter2@a:7000/2' })).toThrow(
      /^(?!.*hunter2)[\s\S]*no database number/,
    );
  });

  it('refuses REDIS_CLUSTER=true without REDIS_URL, and a value that is not a boolean', () => {
    expect(() => loadConfig({ REDIS_CLUSTER: 'true' })).toThrow(/REDIS_CLUSTER=true needs REDIS_URL/);
    expect(() => loadConfig({ REDIS_CLUSTER: 'yes', REDIS_URL: 'redis://a' })).toThrow(/REDIS_CLUSTER/);
  });
});
