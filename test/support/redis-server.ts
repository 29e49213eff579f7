import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/** The redis-server binary the backplane tests start (Debian's `redis-server` package). */
const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';

let available: boolean | undefined;

export function hasRedisServer(): boolean {
  available ??= spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

/**
 * `describe` for specs that need a real Redis. Without `redis-server` they are skipped with a loud notice,
 * except under CI=true, where the missing server fails the run.
 */
export function describeWithRedis(name: string, fn: () => void): void {
  if (hasRedisServer()) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs redis-server', () => {
        throw new Error(`${REDIS_SERVER} not found, and CI=true: install it (apt-get install redis-server)`);
      });
    });
  } else {
    const line = '!'.repeat(100);
    console.warn(
      `${line}\n!! SKIPPED "${name}": ${REDIS_SERVER} is not installed. ` +
        `Install it (apt-get install redis-server) to run the backplane tests; CI=true fails instead.\n${line}`,
    );
    describe.skip(name, fn);
  }
}

const running = new Set<ChildProcess>();
// A failed test must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `redis-server` with `args` and resolves once it accepts connections (10 s at most); killed when this
 * process exits. `what` names it in errors.
 */
export function spawnRedisServer(args: string[], what: string): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail('not ready after 10 s'), 10_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${what}: ${why}\n${output}`));
    };
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => running.delete(child));
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      child.stderr?.resume();
      resolve(child);
    });
  });
}

export interface RedisServerOptions {
  /** A fixed port; a free one by default. */
  port?: number;
  /** `requirepass`. */
  password?: string;
  /** PEM files: the server then accepts TLS only, and its URL is `rediss://`. */
  tls?: { cert: string; key: string; ca: string };
}

/** A real redis-server on 127.0.0.1 that stores nothing, started and stopped by the test. */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a server on `options.port`, or on a free port. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const { port } = options;
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(port ?? (await freePort()), options);
      try {
        await server.spawn();
        return server;
      } catch (err) {
        // Another process may have taken the free port meanwhile: try another one.
        if (port !== undefined || attempt >= 3) throw err;
      }
    }
  }

  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `${this.options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the server (SIGKILL by default: no goodbye to the clients) and waits until it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** A new server on the same port, as after an operator restarts Redis. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  stop(): Promise<void> {
    return this.kill('SIGTERM');
  }

  /** How many client connections the server accepted so far (INFO stats), this query's own included. */
  async connectionsReceived(): Promise<number> {
    const { tls } = this.options;
    const client = new Redis(this.url, { lazyConnect: true, ...(tls && { tls: { ca: readFileSync(tls.ca) } }) });
    try {
      await client.connect();
      return Number(/total_connections_received:(\d+)/.exec(await client.info('stats'))?.[1]);
    } finally {
      client.disconnect();
    }
  }

  private spawn(): Promise<void> {
    const { password, tls } = this.options;
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (tls) {
      args.push('--port', '0', '--tls-port', String(this.port), '--tls-auth-clients', 'no');
      args.push('--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca);
    } else {
      args.push('--port', String(this.port));
    }
    if (password) args.push('--requirepass', password);
    return spawnRedisServer(args, `redis-server on port ${this.port}`).then((child) => {
      this.child = child;
    });
  }
}
