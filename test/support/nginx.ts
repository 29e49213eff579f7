import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from './wait-until.js';
import { request } from './http.js';

/** Debian's nginx (the `nginx-light` package that .ci/run installs). */
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';

export function hasNginx(): boolean {
  return spawnSync(NGINX, ['-v'], { stdio: 'ignore' }).status === 0;
}

/**
 * `describe` for specs that need nginx. Without it they are skipped with a loud notice, except under CI=true,
 * where the missing binary fails the run (as describeWithRedis does for redis-server).
 */
export function describeWithNginx(name: string, fn: () => void): void {
  if (hasNginx()) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs nginx', () => {
        throw new Error(`${NGINX} not found, and CI=true: install it (apt-get install nginx-light)`);
      });
    });
  } else {
    const line = '!'.repeat(100);
    console.warn(
      `${line}\n!! SKIPPED "${name}": ${NGINX} is not installed. ` +
        `Install it (apt-get install nginx-light) to run the proxy tests; CI=true fails instead.\n${line}`,
    );
    describe.skip(name, fn);
  }
}

/**
 * deploy/nginx.conf, as shipped, made to run here: its upstream servers replaced by `upstreams` (ports on
 * 127.0.0.1), its HTTPS listener by plain HTTP on `port` (TLS between clients and nginx changes nothing upstream),
 * its HTTP redirect on another free port, inside a main context whose files all live in `dir`.
 */
export function testConfig(dir: string, port: number, redirectPort: number, upstreams: number[]): string {
  const shipped = readFileSync(path.resolve('deploy/nginx.conf'), 'utf8');
  const replace = (text: string, pattern: RegExp, by: (match: RegExpExecArray) => string): string => {
    const match = pattern.exec(text);
    if (!match) throw new Error(`deploy/nginx.conf: nothing matches ${pattern}`);
    return text.replace(pattern, by(match));
  };
  let http = replace(shipped, /^(\s*)server dispatcher:8080 (.*);$/m, (m) =>
    upstreams.map((p) => `${m[1]}server 127.0.0.1:${p} ${m[2]};`).join('\n'),
  );
  http = replace(http, /^(\s*)listen 8443 ssl;$/m, (m) => `${m[1]}listen 127.0.0.1:${port};`);
  http = replace(http, /^(\s*)listen 8080;$/m, (m) => `${m[1]}listen 127.0.0.1:${redirectPort};`);
  http = http.replace(/^\s*ssl_\w+ .*;$/gm, '');
  const file = (name: string) => path.join(dir, name);
  return [
    'daemon off;',
    'worker_processes 1;',
    `pid ${file('nginx.pid')};`,
    `error_log ${file('error.log')} warn;`,
    'events { worker_connections 4096; }',
    'http {',
    `  access_log off;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${file(`${t}_temp`)};`),
    http,
    '}',
    '',
  ].join('\n');
}

/** nginx in front of the instances on `upstreams`, with deploy/nginx.conf's settings, as a child process. */
export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(port: number, redirectPort: number, upstreams: number[]): Promise<Nginx> {
    const dir = mkdtempSync(path.join(tmpdir(), 'nginx-'));
    // Readable by the workers, which drop to an unprivileged user when nginx runs as root.
    chmodSync(dir, 0o755);
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, testConfig(dir, port, redirectPort, upstreams));
    const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const nginx = new Nginx(child, dir, port);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`nginx exited (${code}):\n${nginx.errorLog()}`))),
    );
    // Any answer from nginx itself will do (a 502 while no upstream listens yet).
    await Promise.race([
      waitUntil(
        () =>
          request(`http://127.0.0.1:${port}/health/live`).then(
            () => true,
            () => false,
          ),
        10_000,
        'nginx to listen',
      ),
      exited,
    ]);
    exited.catch(() => undefined);
    return nginx;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  errorLog(): string {
    try {
      return readFileSync(path.join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
