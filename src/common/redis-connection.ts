import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { splitUrls, type AppConfig } from '../config/app-config.js';

export type RedisConnection = Redis | Cluster;

/** Delay before reconnection attempt `attempt` (1, 2, ...): 100 ms doubling up to 2 s, plus jitter so that a fleet does not reconnect in step. */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000) + Math.floor(Math.random() * 100);
}

/** The cluster's seed nodes and the options every node connection takes (user, password, TLS) from REDIS_URL. */
export function clusterSeeds(value: string): {
  nodes: { host: string; port: number }[];
  redisOptions: Pick<RedisOptions, 'username' | 'password' | 'tls'>;
} {
  const urls = splitUrls(value).map((u) => new URL(u));
  const nodes = urls.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379) }));
  const first = urls[0];
  return {
    nodes,
    redisOptions: {
      ...(first.username && { username: decodeURIComponent(first.username) }),
      ...(first.password && { password: decodeURIComponent(first.password) }),
      ...(first.protocol === 'rediss:' && { tls: {} }),
    },
  };
}

/**
 * A connection to the Redis of REDIS_URL (with REDIS_CLUSTER=true, a cluster client): it reconnects by itself, and
 * nothing waits for it. A command that cannot be sent now fails at once (no offline queue), and one cut off by a lost
 * connection is not sent again later: late or twice is worse than not at all. `subscriber`: a connection for
 * (sharded) pub/sub, whose subscriptions its user makes again on every `ready`.
 */
export function redisConnection(
  config: Pick<AppConfig, 'redisUrl' | 'redisCluster'>,
  connectionName: string,
  { subscriber = false } = {},
): RedisConnection {
  const url = config.redisUrl as string;
  const common: RedisOptions = {
    connectTimeout: 5000,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  };
  if (!config.redisCluster) {
    return new Redis(url, {
      ...common,
      connectionName,
      retryStrategy: reconnectDelay,
      enableOfflineQueue: false,
      autoResubscribe: !subscriber,
    });
  }
  const { nodes, redisOptions } = clusterSeeds(url);
  const options: ClusterOptions = {
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue: false,
    // A command Redis refused with MOVED or ASK (it did not run it) follows the slot at once, 3 times at most. One
    // cut off by a lost connection (it may have run) or refused while the cluster is down is not sent again.
    maxRedirections: 3,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    slotsRefreshTimeout: 2000,
    shardedSubscribers: subscriber,
    // Managed clusters with TLS announce host names their certificates name: connect to them as given.
    dnsLookup: (address, callback) => callback(null, address),
    redisOptions: { ...common, ...redisOptions, connectionName },
  };
  return new Cluster(nodes, options);
}

/**
 * A connection error's message, with the likely cause where the message alone does not say it: a rediss:// URL
 * against a Redis without TLS (the handshake times out or is reset), REDIS_CLUSTER=true against a Redis that is not
 * a cluster.
 */
export function likelyCause(message: string, config: Pick<AppConfig, 'redisUrl' | 'redisCluster'>): string {
  if (config.redisCluster && /slots cache|cluster support disabled/i.test(message)) {
    return `${message} (REDIS_CLUSTER=true: is this Redis a Redis Cluster? For a single Redis, unset REDIS_CLUSTER)`;
  }
  const tls = config.redisUrl?.startsWith('rediss://') ?? false;
  if (tls && /ETIMEDOUT|ECONNRESET|EPROTO|wrong version number|before secure TLS connection/i.test(message)) {
    return `${message} (REDIS_URL is rediss://: does this Redis serve TLS on that port? For one without TLS, use redis://)`;
  }
  if (!tls && /ECONNRESET/.test(message)) {
    return `${message} (if this persists: does this Redis want TLS? Then REDIS_URL starts with rediss://)`;
  }
  return message;
}
