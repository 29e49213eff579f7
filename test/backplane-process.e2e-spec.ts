import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { postEvent, request } from './support/http.js';
import { spawnApp, waitUntilListening, type ChildApp } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { waitUntil } from './support/wait-until.js';
import { describeWithRedis, RedisServer } from './support/redis-server.js';
import { SseClient } from './support/sse-client.js';

/** A throw-away CA and a certificate for 127.0.0.1 signed by it, made with openssl. */
function makeCertificates(dir: string): { cert: string; key: string; ca: string } {
  const files = ['ca.key', 'ca.crt', 'server.key', 'server.csr', 'server.crt', 'san.ext'];
  const [caKey, ca, key, csr, cert, ext] = files.map((name) => path.join(dir, name));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=test CA', '-keyout', caKey, '-out', ca);
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', csr);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\n');
  const signer = ['-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext];
  openssl('x509', '-req', '-in', csr, ...signer, '-out', cert);
  return { cert, key, ca };
}

async function healthStatus(port: number): Promise<number> {
  return (await request(`http://127.0.0.1:${port}/health`)).status;
}

function waitForHealth(port: number, status: number, timeoutMs = 10_000): Promise<boolean> {
  return waitUntil(
    async () => (await healthStatus(port)) === status,
    timeoutMs,
    `GET /health on ${port} to answer ${status}`,
  );
}

describeWithRedis('backplane: the service as processes, over TLS with a password', () => {
  const password = 'pa$$word-never-logged';
  let dir: string;
  let tls: { cert: string; key: string; ca: string };
  let redis: RedisServer;
  const apps: ChildApp[] = [];

  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), NODE_EXTRA_CA_CERTS: tls.ca, ...env });
    apps.push(app);
    await waitUntilListening(port);
    return { app, port, url: `http://127.0.0.1:${port}` };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'backplane-tls-'));
    tls = makeCertificates(dir);
    redis = await RedisServer.start({ tls, password });
  }, 120_000);

  afterAll(async () => {
    for (const { child } of apps) child.kill('SIGKILL');
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shares events between two processes over rediss:// and never logs the password', async () => {
    expect(redis.url).toMatch(/^rediss:\/\/:/);
    const env = { REDIS_URL: `${redis.url}/0`, REDIS_CHANNEL: 'tls-test' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    await Promise.all([waitForHealth(a.port, 200), waitForHealth(b.port, 200)]);
    const reader = await new SseClient(`${b.url}/events`).connect();
    await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
    expect((await postEvent(a.url, { event_name: 'OVER_TLS' })).status).toBe(204);
    await reader.waitForEvents(1);
    expect(reader.json()).toEqual([{ event_name: 'OVER_TLS', user_ip: '127.0.0.1' }]);
    reader.close();
    for (const { app } of [a, b]) {
      expect(app.output()).toContain(`rediss://:***@127.0.0.1:${redis.port}/0`);
      expect(app.output()).toMatch(/Redis backplane up/);
      expect(app.output()).not.toContain(password);
      expect(app.output()).not.toContain(encodeURIComponent(password));
    }
  });

  it('with a wrong password: serves alone, /health 503, one log line for it however many attempts', async () => {
    const wrong = redis.url.replace(encodeURIComponent(password), 'wrong');
    const { app, port, url } = await start({ REDIS_URL: wrong });
    await waitForHealth(port, 503);
    expect((await postEvent(url, { event_name: 'ALONE' })).status).toBe(204);
    expect((await request(`${url}/health/live`)).status).toBe(200);
    // Several reconnection attempts, counted by Redis (each query adds its own connection).
    const first = await redis.connectionsReceived();
    let queries = 0;
    await waitUntil(
      async () => (await redis.connectionsReceived()) - ++queries - first >= 4,
      15_000,
      'four more connection attempts',
    );
    expect(app.output().match(/Redis backplane down/g)).toHaveLength(1);
    expect(app.output()).toMatch(/Redis backplane down \(unreachable: WRONGPASS/);
  });

  it('on SIGTERM while Redis is away: exits 0 within SHUTDOWN_DRAIN_MS + SHUTDOWN_TIMEOUT_MS', async () => {
    const { app, port } = await start({ REDIS_URL: redis.url, SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_TIMEOUT_MS: '4000' });
    await waitForHealth(port, 200);
    await redis.kill();
    await waitForHealth(port, 503);
    app.child.kill('SIGTERM');
    // 0, not the 1 of the forced exit at SHUTDOWN_TIMEOUT_MS: the shutdown finished within it.
    expect(await app.exited).toBe(0);
  });
});
