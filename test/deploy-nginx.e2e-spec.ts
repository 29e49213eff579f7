import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApp, type RunningApp } from './support/app.js';
import { freePort } from './support/free-port.js';
import { simulate } from './support/simulate.js';
import { waitUntil } from './support/wait-until.js';

const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const TOKEN = 'compose-example-token-0123456789';

/** Without nginx (Debian's nginx-light), skipped loudly on a developer's machine; under CI=true it fails instead. */
const hasNginx = spawnSync(NGINX, ['-v'], { stdio: 'ignore' }).status === 0;
if (!hasNginx && process.env.CI !== 'true') {
  process.stderr.write(`\n*** deploy/nginx.conf spec SKIPPED: no ${NGINX} (apt-get install nginx-light). ***\n\n`);
}
const describeWithNginx = hasNginx || process.env.CI === 'true' ? describe : describe.skip;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * deploy/nginx.conf, the front of docker-compose.yml, run by the real nginx in front of the real service: only the
 * addresses are changed (loopback ports instead of the compose network, a throwaway certificate).
 */
describeWithNginx('deploy/nginx.conf in front of the service: TLS, and only the public paths', () => {
  let dir: string;
  let app: RunningApp;
  let nginx: ChildProcess | undefined;
  let httpPort: number;
  let httpsPort: number;
  let ca: Buffer;

  function request(
    url: string,
    options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
  ): Promise<Answer> {
    const client = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(
        url,
        { method: options.method ?? 'GET', headers: options.headers, ca, agent: false, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
      req.end(options.body);
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'nginx-front-'));
    for (const sub of ['tls', 'temp']) mkdirSync(path.join(dir, sub));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'tls/tls.key'),
        '-out',
        path.join(dir, 'tls/tls.crt'),
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(path.join(dir, 'tls/tls.crt'));

    app = await startApp({ SUBSCRIBER_TOKENS: TOKEN });
    httpPort = await freePort();
    httpsPort = await freePort();
    const site = readFileSync('deploy/nginx.conf', 'utf8')
      .replace(/server dispatcher:8080\b/, `server 127.0.0.1:${app.port}`)
      .replace(/listen 8080;/, `listen 127.0.0.1:${httpPort};`)
      .replace(/listen 8443 ssl;/, `listen 127.0.0.1:${httpsPort} ssl;`)
      .replace(/\$host:8443/, `$host:${httpsPort}`)
      .replaceAll('/etc/nginx/tls/', `${dir}/tls/`);
    writeFileSync(path.join(dir, 'site.conf'), site);
    const temp = path.join(dir, 'temp');
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        // Workers as the same user as the master: they write request bodies into this test's own folder.
        ...(process.getuid?.() === 0 ? ['user root;'] : []),
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'events {}',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${temp}/${t};`),
        `  include ${dir}/site.conf;`,
        '}',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGTERM');
      await exited;
    }
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes nginx -t', () => {
    const out = execFileSync(NGINX, ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    expect(out).toBe('');
  });

  it('serves players and consoles on HTTPS, answers 404 for /metrics, /docs and /health, redirects HTTP', async () => {
    nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    const https = `https://127.0.0.1:${httpsPort}`;
    await waitUntil(() => request(`${https}/`), 5000, 'nginx listening');

    const redirect = await request(`http://127.0.0.1:${httpPort}/api/events?x=1`);
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://127.0.0.1:${httpsPort}/api/events?x=1`);

    for (const p of ['/metrics', '/docs', '/docs-json', '/health', '/health/ready', '/', '/api/events/../metrics']) {
      const res = await request(`${https}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect([p, res.status, JSON.parse(res.body).statusCode]).toEqual([p, 404, 404]);
    }

    expect((await request(`${https}/console`)).status).toBe(200);
    expect((await request(`${https}/console/console.js`)).status).toBe(200);
    expect((await request(`${https}/events`)).status).toBe(401);

    // A stream with the token, through nginx, gets a player's event posted through nginx, with the player's address.
    const frames: string[] = [];
    const stream = streamGet(`${https}/events`, { authorization: `Bearer ${TOKEN}` }, ca, (chunk) =>
      frames.push(chunk),
    );
    try {
      await stream.connected;
      await waitUntil(() => frames.join('').includes(':'), 5000, 'the greeting');
      const post = await request(`${https}/api/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_name: 'START', session_id: 'through-nginx' }),
      });
      expect(post.status).toBe(204);
      await waitUntil(() => frames.join('').includes('through-nginx'), 5000, 'the event');
      const data = frames
        .join('')
        .split('\n')
        .find((l) => l.startsWith('data: ') && l.includes('through-nginx'))!;
      expect(JSON.parse(data.slice(6))).toEqual({
        event_name: 'START',
        session_id: 'through-nginx',
        user_ip: '127.0.0.1',
      });
    } finally {
      stream.close();
    }

    const tooLarge = await request(`${https}/api/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(300 * 1024) }),
    });
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toMatchObject({ statusCode: 413 });
  });

  it('takes the simulator over HTTPS, trusting the self-signed certificate given with --ca', async () => {
    const https = `https://127.0.0.1:${httpsPort}`;
    const frames: string[] = [];
    const stream = streamGet(`${https}/events`, { authorization: `Bearer ${TOKEN}` }, ca, (chunk) =>
      frames.push(chunk),
    );
    try {
      await stream.connected;
      const args = ['--url', https, '--players', '3', '--duration', '1.5', '--heartbeat', '0.3', '--quiet'];
      const trusted = await simulate([...args, '--ca', path.join(dir, 'tls/tls.crt')]);
      expect(trusted.code).toBe(0);
      expect(trusted.stderr).toMatch(/ok [1-9]\d* +failed 0 /);
      await waitUntil(() => frames.join('').includes('"event_name":"START"'), 5000, 'the simulated players');
      // Without --ca the certificate is not trusted: every POST fails, and the run says so.
      const untrusted = await simulate([...args, '--duration', '1']);
      expect(untrusted.stderr).toMatch(/ok 0 +failed [1-9]/);
      expect(untrusted.stderr).toMatch(/SELF_SIGNED|self.signed/i);
    } finally {
      stream.close();
    }
    expect((await simulate(['--url', 'http://127.0.0.1:1', '--ca', 'x.pem'])).stderr).toMatch(
      /--ca is for an https:\/\/ URL/,
    );
  });
});

/** A streamed HTTPS GET: every chunk as it arrives. */
function streamGet(url: string, headers: http.OutgoingHttpHeaders, ca: Buffer, onChunk: (chunk: string) => void) {
  let req: http.ClientRequest;
  const connected = new Promise<void>((resolve, reject) => {
    req = https.get(url, { headers, ca, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', onChunk);
      resolve();
    });
    req.on('error', reject);
  });
  return { connected, close: () => req.destroy() };
}
