import { isIP } from 'node:net';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  registerDecorator,
  validateSync,
  type ValidationArguments,
} from 'class-validator';

/** Express `trust proxy` value: a boolean, a hop count, or a list of addresses, CIDRs and named ranges. */
export type TrustProxy = boolean | number | string;

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isTrustProxyList(value: unknown): boolean {
  if (typeof value !== 'string') return typeof value === 'boolean' || Number.isInteger(value);
  return value.split(',').every((raw) => {
    const item = raw.trim();
    if (NAMED_RANGES.has(item)) return true;
    const [address, bits, extra] = item.split('/');
    const family = isIP(address);
    if (!family || extra !== undefined) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
  });
}

function IsTrustProxy() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isTrustProxy',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => isTrustProxyList(value),
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be true, false, a hop count, or a comma-separated list of addresses, CIDRs, loopback, linklocal, uniquelocal`,
      },
    });
}

/** A host name as DNS writes it: labels of letters, digits and inner hyphens, joined by dots. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function IsListenHost() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isListenHost',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && (isIP(value) !== 0 || HOST_NAME.test(value)),
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be an IP address (IPv6 without brackets) or a host name`,
      },
    });
}

/** A bearer token (RFC 6750 token68 characters, so it travels unescaped in a header), 16 characters at least. */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]{16,}=*$/;
const TOKEN_MESSAGE =
  '$property must be a comma-separated list of tokens of at least 16 characters among A-Z a-z 0-9 - . _ ~ + /';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** A `redis://` or `rediss://` (TLS) URL with a host, optionally a database number as its path. */
export function isRedisUrl(value: unknown): boolean {
  // Lower-case schemes only: ioredis turns TLS on for a URL that starts with `rediss://` exactly.
  if (typeof value !== 'string' || !/^rediss?:\/\//.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.hostname !== '' && /^\/?\d*$/.test(url.pathname) && decodes(url.username) && decodes(url.password);
}

/** Whether ioredis can percent-decode a URL's user name or password (a lone `%` makes it throw at start-up). */
function decodes(part: string): boolean {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}

/**
 * The URL with its password and its query values replaced, for logs, status pages and configuration errors; a
 * comma-separated list URL by URL. A value that is no URL is shown as it is, up to an `@` (what could be a password
 * before it is replaced).
 */
export function redactUrl(value: string): string {
  if (value.includes(','))
    return splitUrls(value)
      .map((url) => redactUrl(url))
      .join(',');
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    // ioredis also reads options from the query string, `?password=` among them: no value of it is shown.
    for (const key of new Set(url.searchParams.keys())) url.searchParams.set(key, '***');
    return url.toString().replaceAll('%2A%2A%2A', '***');
  } catch {
    const at = value.lastIndexOf('@');
    if (at < 0) return value;
    const scheme = value.indexOf('://');
    return `${scheme >= 0 && scheme < at ? value.slice(0, scheme + 3) : ''}***${value.slice(at)}`;
  }
}

/** The URLs of REDIS_URL: one, or with REDIS_CLUSTER=true one or more seed nodes, comma-separated. */
export function splitUrls(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function IsRedisUrls() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isRedisUrls',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown, args?: ValidationArguments) => {
          if (typeof value !== 'string') return false;
          const urls = splitUrls(value);
          const cluster = (args?.object as AppConfig | undefined)?.redisCluster === true;
          // A cluster has database 0 only.
          const dbOk = (url: string) => !cluster || /^\/?0?$/.test(new URL(url).pathname);
          return urls.length > 0 && (cluster || urls.length === 1) && urls.every((u) => isRedisUrl(u) && dbOk(u));
        },
        defaultMessage: (args?: ValidationArguments) =>
          (args?.object as AppConfig | undefined)?.redisCluster
            ? `${args?.property} must be one or more comma-separated redis://[user:password@]host[:port] or rediss://... URLs (the cluster's seed nodes, no database number), with % in the user name or password written %25`
            : `${args?.property} must be a redis://[user:password@]host[:port][/db] or rediss://... URL, with % in the user name or password written %25 (several, comma-separated, only with REDIS_CLUSTER=true)`,
      },
    });
}

/** An http:// or https:// URL with a host (the JWKS of subscriber tokens). */
function IsHttpUrl() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isHttpUrl',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => {
          try {
            const url = new URL(String(value));
            return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
          } catch {
            return false;
          }
        },
        defaultMessage: (args?: ValidationArguments) => `${args?.property} must be an https:// (or http://) URL`,
      },
    });
}

function NeedsRedisUrl() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'needsRedisUrl',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown, args?: ValidationArguments) =>
          value !== true || !!(args?.object as AppConfig | undefined)?.redisUrl,
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property}=true needs REDIS_URL (the cluster's seed nodes)`,
      },
    });
}

const MiB = 1024 * 1024;
/** MAX_SUBSCRIBERS when it is not set: the most this process serves, whatever its memory. */
export const DEFAULT_MAX_SUBSCRIBERS = 10_000;
/**
 * The rule for MAX_SUBSCRIBERS when it is not set and the container has a memory limit: what is left of
 * MEMORY_SHARE of the limit once the process's own START_BUDGET_BYTES and the stream buffers' budget
 * (SSE_BUFFER_BUDGET_BYTES) are taken, divided by SUBSCRIBER_BUDGET_BYTES per subscriber (an idle subscriber, and
 * the largest filter it may ask for), between MIN_DERIVED_SUBSCRIBERS and DEFAULT_MAX_SUBSCRIBERS. The budgets are
 * measured figures with headroom (docs/performance.md).
 */
export const MEMORY_SHARE = 0.8;
export const START_BUDGET_BYTES = 128 * MiB;
export const SUBSCRIBER_BUDGET_BYTES = 36 * 1024;
export const FILTER_BUDGET_BYTES = 16 * 1024;
export const MIN_DERIVED_SUBSCRIBERS = 100;
/** SSE_BUFFER_BUDGET_BYTES when it is not set: a quarter of the memory limit, or this without one. */
export const DEFAULT_BUFFER_BUDGET_BYTES = 128 * MiB;
export const BUFFER_BUDGET_SHARE = 0.25;
/** MAX_SUBSCRIBERS_PER_ADDRESS when it is not set: generous for an office behind one NAT address, and never more
 * than a quarter of MAX_SUBSCRIBERS. */
export const DEFAULT_MAX_SUBSCRIBERS_PER_ADDRESS = 256;

/** SSE_BUFFER_BUDGET_BYTES's default for a memory limit (bytes), or for none. */
export function defaultBufferBudget(memoryLimitBytes?: number): number {
  if (memoryLimitBytes === undefined) return DEFAULT_BUFFER_BUDGET_BYTES;
  return Math.max(16 * MiB, Math.floor(memoryLimitBytes * BUFFER_BUDGET_SHARE));
}

/** MAX_SUBSCRIBERS's default for a memory limit (bytes), or for none, with the stream buffers' budget in force. */
export function defaultMaxSubscribers(
  memoryLimitBytes?: number,
  bufferBudget = defaultBufferBudget(memoryLimitBytes),
): number {
  if (memoryLimitBytes === undefined) return DEFAULT_MAX_SUBSCRIBERS;
  const room = memoryLimitBytes * MEMORY_SHARE - START_BUDGET_BYTES - bufferBudget;
  const fits = Math.floor(room / (SUBSCRIBER_BUDGET_BYTES + FILTER_BUDGET_BYTES));
  return Math.min(DEFAULT_MAX_SUBSCRIBERS, Math.max(MIN_DERIVED_SUBSCRIBERS, fits));
}

/** MAX_SUBSCRIBERS_PER_ADDRESS's default for the MAX_SUBSCRIBERS in force. */
export function defaultMaxSubscribersPerAddress(maxSubscribers: number): number {
  return Math.max(1, Math.min(DEFAULT_MAX_SUBSCRIBERS_PER_ADDRESS, Math.ceil(maxSubscribers / 4)));
}

/** The service's configuration, read once from the environment at start-up. */
export class AppConfig {
  @IsInt() @Min(0) @Max(65535) port = 8080;
  /** Unset: every address, IPv6 and IPv4 (Node listens on `::`, dual-stack, or on 0.0.0.0 without IPv6). */
  @IsOptional() @IsListenHost() host?: string;
  /** Largest accepted event, in bytes, before and after decompression. */
  @IsInt() @Min(64) @Max(64 * 1024 * 1024) maxEventBytes = 256 * 1024;
  /** Time a client has to send an event's body (408 after); below Node's own 300 s request timeout. */
  @IsInt() @Min(100) @Max(300_000) bodyTimeoutMs = 30_000;
  @IsTrustProxy() trustProxy: TrustProxy = 'loopback, linklocal, uniquelocal';
  /** Silence on a stream after which a keep-alive comment is sent. */
  @IsInt() @Min(10) @Max(3_600_000) sseHeartbeatMs = 15_000;
  /** Unsent bytes after which a subscriber that does not read is disconnected. */
  @IsInt() @Min(1024) sseMaxBufferBytes = 1024 * 1024;
  /**
   * Unsent bytes of all streams together past which the largest backlogs are cut off. Unset: a quarter of the
   * container's memory limit, or DEFAULT_BUFFER_BUDGET_BYTES without one.
   */
  @IsInt() @Min(1024 * 1024) sseBufferBudgetBytes = DEFAULT_BUFFER_BUDGET_BYTES;
  /** Unset: DEFAULT_MAX_SUBSCRIBERS, or what fits the container's memory limit (see defaultMaxSubscribers). */
  @IsInt() @Min(1) maxSubscribers = DEFAULT_MAX_SUBSCRIBERS;
  /** Streams one client address (an IPv6 /64) may hold at once. Unset: see defaultMaxSubscribersPerAddress. */
  @IsInt() @Min(1) maxSubscribersPerAddress = DEFAULT_MAX_SUBSCRIBERS_PER_ADDRESS;
  /** After SIGTERM: how long readiness fails while everything is still served, before the listener closes. */
  @IsInt() @Min(0) @Max(600_000) shutdownDrainMs = 5_000;
  /** After the drain: the longest the requests in flight and the streams' last writes may take. */
  @IsInt() @Min(0) @Max(600_000) shutdownTimeoutMs = 10_000;
  /** Heap use above which GET /health reports the memory check as down. */
  @IsInt() @Min(16) healthMaxHeapMb = 512;
  /** Resident memory, in percent of the container's memory limit, above which GET /health reports it down. */
  @IsInt() @Min(1) @Max(100) healthMaxRssPercent = 90;
  /** Secrets that GET /events and /metrics accept; empty: both are open to anyone. Never logged. */
  @Matches(TOKEN_PATTERN, { each: true, message: TOKEN_MESSAGE }) subscriberTokens: string[] = [];
  /**
   * The HMAC secret of subscriber JWTs signed with HS256 (HS384, HS512), at least 32 characters; unset: no such
   * tokens. Never logged.
   */
  @IsOptional() @IsString() @MinLength(32) jwtSecret?: string;
  /** Where the public keys of subscriber JWTs signed with RS256, PS256, ES256, ES384 or EdDSA are (a JWKS). */
  @IsOptional() @IsHttpUrl() jwtJwksUrl?: string;
  /** The `iss` a subscriber JWT must have; unset: not checked. */
  @IsOptional() @IsString() @MinLength(1) jwtIssuer?: string;
  /** The `aud` a subscriber JWT must have (one of); unset: not checked. */
  @IsOptional() @IsString() @MinLength(1) jwtAudience?: string;
  /** Seconds of clock difference allowed when `exp` and `nbf` are checked. */
  @IsInt() @Min(0) @Max(300) jwtClockToleranceS = 30;
  /** Events one client address may POST per minute; 0: no limit. */
  @IsInt() @Min(0) rateLimitPerMinute = 0;
  /** Whether events must match the monitoring envelope (event_name, session_id, timestamp, version, data). */
  @IsBoolean() strictSchema = false;
  /** Whether `user_ip` and the logs show the client's network (IPv4 /24, IPv6 /48) rather than its address. */
  @IsBoolean() anonymizeUserIp = false;
  @IsIn(LOG_LEVELS) logLevel: LogLevel = 'info';
  @IsIn(LOG_FORMATS) logFormat: LogFormat = 'json';

  /**
   * Redis joining several instances (pub/sub only, nothing stored); unset: this instance runs alone. With
   * REDIS_CLUSTER=true, the seed nodes of a Redis Cluster, comma-separated.
   */
  @IsOptional() @IsRedisUrls() redisUrl?: string;
  /** Whether REDIS_URL names a Redis Cluster: sharded pub/sub (SPUBLISH / SSUBSCRIBE) through the cluster client. */
  @IsBoolean() @NeedsRedisUrl() redisCluster = false;
  /** Pub/sub channel of this deployment, so that several deployments can share one Redis. */
  @IsString() @MinLength(1) @MaxLength(256) redisChannel = 'pillarbox:events';

  /** The container's memory limit in bytes (the cgroup's), read at start; undefined without one. Not a variable. */
  memoryLimitBytes?: number;

  /** What start-up logs show: the secrets replaced (tokens by their count, the Redis password by ***). */
  toJSON(): Record<string, unknown> {
    return {
      ...(this as object),
      subscriberTokens: `[${this.subscriberTokens.length} redacted]`,
      jwtSecret: this.jwtSecret && '[redacted]',
      redisUrl: this.redisUrl && redactUrl(this.redisUrl),
    };
  }
}

type Kind = 'int' | 'string' | 'trustProxy' | 'bool' | 'list';

/** Environment variable -> config property. The variable names are the public interface. */
export const ENV_VARIABLES: Record<string, { key: keyof AppConfig; kind: Kind }> = {
  PORT: { key: 'port', kind: 'int' },
  HOST: { key: 'host', kind: 'string' },
  MAX_EVENT_BYTES: { key: 'maxEventBytes', kind: 'int' },
  BODY_TIMEOUT_MS: { key: 'bodyTimeoutMs', kind: 'int' },
  TRUST_PROXY: { key: 'trustProxy', kind: 'trustProxy' },
  SSE_HEARTBEAT_MS: { key: 'sseHeartbeatMs', kind: 'int' },
  SSE_MAX_BUFFER_BYTES: { key: 'sseMaxBufferBytes', kind: 'int' },
  SSE_BUFFER_BUDGET_BYTES: { key: 'sseBufferBudgetBytes', kind: 'int' },
  MAX_SUBSCRIBERS: { key: 'maxSubscribers', kind: 'int' },
  MAX_SUBSCRIBERS_PER_ADDRESS: { key: 'maxSubscribersPerAddress', kind: 'int' },
  SHUTDOWN_DRAIN_MS: { key: 'shutdownDrainMs', kind: 'int' },
  SHUTDOWN_TIMEOUT_MS: { key: 'shutdownTimeoutMs', kind: 'int' },
  HEALTH_MAX_HEAP_MB: { key: 'healthMaxHeapMb', kind: 'int' },
  HEALTH_MAX_RSS_PERCENT: { key: 'healthMaxRssPercent', kind: 'int' },
  SUBSCRIBER_TOKENS: { key: 'subscriberTokens', kind: 'list' },
  JWT_SECRET: { key: 'jwtSecret', kind: 'string' },
  JWT_JWKS_URL: { key: 'jwtJwksUrl', kind: 'string' },
  JWT_ISSUER: { key: 'jwtIssuer', kind: 'string' },
  JWT_AUDIENCE: { key: 'jwtAudience', kind: 'string' },
  JWT_CLOCK_TOLERANCE_S: { key: 'jwtClockToleranceS', kind: 'int' },
  RATE_LIMIT_PER_MINUTE: { key: 'rateLimitPerMinute', kind: 'int' },
  STRICT_SCHEMA: { key: 'strictSchema', kind: 'bool' },
  ANONYMIZE_USER_IP: { key: 'anonymizeUserIp', kind: 'bool' },
  LOG_LEVEL: { key: 'logLevel', kind: 'string' },
  LOG_FORMAT: { key: 'logFormat', kind: 'string' },
  REDIS_URL: { key: 'redisUrl', kind: 'string' },
  REDIS_CHANNEL: { key: 'redisChannel', kind: 'string' },
  REDIS_CLUSTER: { key: 'redisCluster', kind: 'bool' },
};

/** Variables whose value is never printed, not even in a configuration error. */
const SECRET_VARIABLES = new Set(['SUBSCRIBER_TOKENS', 'JWT_SECRET']);
/** Variables that close GET /events and /metrics: set but empty, they are an error, not an open stream. */
const CLOSING_VARIABLES = new Set(['SUBSCRIBER_TOKENS', 'JWT_SECRET', 'JWT_JWKS_URL']);

export class ConfigError extends Error {}

function parse(kind: Kind, raw: string): unknown {
  const value = raw.trim();
  switch (kind) {
    case 'int':
      // Number('') is 0 and Number('1e3') is 1000: only plain digits are taken.
      return /^-?\d+$/.test(value) ? Number(value) : value;
    case 'bool': {
      const lower = value.toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : value;
    }
    case 'list':
      return value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'trustProxy':
      if (value === 'true' || value === 'false') return value === 'true';
      return /^\d+$/.test(value) ? Number(value) : value;
    default:
      return value;
  }
}

/** What the environment does not say: the container's memory limit (app.bootstrap.ts reads the cgroup's). */
export interface ConfigContext {
  memoryLimitBytes?: number;
}

/**
 * Builds the configuration from environment variables; unset or empty ones keep their default, except
 * SUBSCRIBER_TOKENS, which set must hold a token.
 * @throws ConfigError naming every variable at fault.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, context: ConfigContext = {}): AppConfig {
  const config = new AppConfig();
  config.memoryLimitBytes = context.memoryLimitBytes;
  const target = config as unknown as Record<string, unknown>;
  const lines: string[] = [];
  const set = new Set<keyof AppConfig>();
  for (const [name, { key, kind }] of Object.entries(ENV_VARIABLES)) {
    const raw = env[name];
    if (raw === undefined) continue;
    // Empty is unset, except for what closes the stream: `JWT_SECRET="$(cat secret)"` with an empty secret would
    // otherwise open it to anyone.
    if (raw.trim() === '' && kind !== 'list') {
      if (CLOSING_VARIABLES.has(name)) {
        const shown = SECRET_VARIABLES.has(name) ? '<redacted>' : JSON.stringify(raw);
        lines.push(`${name}=${shown}: ${name} is set but empty (unset it for none at all)`);
      }
      continue;
    }
    const value = parse(kind, raw);
    // Neither is `,` a list of tokens: taken as none, it would leave the stream open to anyone.
    if (kind === 'list' && (value as string[]).length === 0) {
      lines.push(`${name}=<redacted>: ${name} is set but holds no token (unset it for no token at all)`);
    }
    target[key] = value;
    set.add(key);
  }
  // Defaults that follow from the memory limit and from each other, for the variables left unset.
  if (!set.has('sseBufferBudgetBytes')) config.sseBufferBudgetBytes = defaultBufferBudget(config.memoryLimitBytes);
  if (!set.has('maxSubscribers') && Number.isInteger(config.sseBufferBudgetBytes)) {
    config.maxSubscribers = defaultMaxSubscribers(config.memoryLimitBytes, config.sseBufferBudgetBytes);
  }
  if (!set.has('maxSubscribersPerAddress') && Number.isInteger(config.maxSubscribers)) {
    config.maxSubscribersPerAddress = defaultMaxSubscribersPerAddress(config.maxSubscribers);
  }
  const errors = validateSync(config);
  if (errors.length || lines.length) {
    const byKey = new Map(Object.entries(ENV_VARIABLES).map(([name, { key }]) => [key as string, name]));
    const invalid = errors.map((e) => {
      const name = byKey.get(e.property) ?? e.property;
      const constraints = e.constraints ?? {};
      // What applies: a value that is no integer gets that said, not the integer bounds it cannot be compared with.
      const kept = constraints.isInt ? { isInt: `${e.property} must be an integer` } : constraints;
      const reasons = Object.entries(kept).map(([kind, m]) =>
        kind === 'isBoolean' ? `${name} must be true or false` : m.replace(e.property, name),
      );
      // Secrets are not echoed; a Redis URL is, its password and query values masked.
      const raw = env[name] ?? '';
      const shown = SECRET_VARIABLES.has(name)
        ? '<redacted>'
        : JSON.stringify(e.property === 'redisUrl' ? redactUrl(raw) : raw);
      return `${name}=${shown}: ${reasons.join('; ')}`;
    });
    // One line per variable at fault.
    throw new ConfigError([...lines, ...invalid].map((line) => `Invalid configuration: ${line}`).join('\n'));
  }
  return config;
}

/** Edit distance between two names (insertions, deletions, substitutions, swaps of neighbours). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * Warnings for variables of the environment that look like a misspelt variable of the service (`REDIS_URl`,
 * `SUBSCRIBER_TOKEN`), which would otherwise be ignored without a word: the same name in another case, or, for a
 * name of 8 characters or more, one edit away. Only names are compared; values are never shown.
 */
export function misspeltVariables(env: NodeJS.ProcessEnv): string[] {
  const known = Object.keys(ENV_VARIABLES);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (Object.hasOwn(ENV_VARIABLES, name)) continue;
    const upper = name.toUpperCase();
    const meant = known.find((k) => k === upper || (k.length >= 8 && distance(upper, k) === 1));
    if (meant) warnings.push(`${name} is not a variable of this service and is ignored: did you mean ${meant}?`);
  }
  return warnings;
}

/** One line saying what this configuration turns on, for the start-up log (the whole configuration is beside it). */
export function enabledFeatures(config: AppConfig): string {
  const redis = config.redisUrl
    ? `Redis backplane${config.redisCluster ? ' (cluster)' : ''} on channel ${config.redisChannel}`
    : 'no backplane (this instance alone)';
  const kinds = [
    ...(config.subscriberTokens.length ? [`${config.subscriberTokens.length} subscriber token(s)`] : []),
    ...(config.jwtSecret ? ['HS256 JWTs'] : []),
    ...(config.jwtJwksUrl ? [`JWTs of the keys at ${config.jwtJwksUrl}`] : []),
  ];
  const access = kinds.length
    ? `${kinds.join(' or ')} required on /events and /metrics`
    : '/events and /metrics open to anyone';
  return [
    redis,
    access,
    `at most ${config.maxSubscribers} subscribers (${config.maxSubscribersPerAddress} per address)`,
    config.rateLimitPerMinute ? `rate limit ${config.rateLimitPerMinute}/min per address` : 'no rate limit',
    ...(config.strictSchema ? ['strict schema'] : []),
    ...(config.anonymizeUserIp ? ['user_ip anonymized'] : []),
  ].join('; ');
}
