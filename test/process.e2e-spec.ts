import { createServer, type Server } from 'node:net';
import { waitUntil } from './support/wait-until.js';
import { postEvent, request } from './support/http.js';
import { spawnApp, waitUntilListening, type ChildApp } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { SseClient } from './support/sse-client.js';

describe('the service as a process', () => {
  it('on SIGTERM with SHUTDOWN_DRAIN_MS=0: ends open streams cleanly, refuses new connections, exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '5000' });
    try {
      await waitUntilListening(port);
      const url = `http://127.0.0.1:${port}`;
      const reader = await new SseClient(`${url}/events`).connect();
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      expect((await postEvent(url, { before: 'shutdown' })).status).toBe(204);
      await reader.waitForEvents(1);

      app.child.kill('SIGTERM');
      await reader.waitForEnd(10_000);
      // 0, not the 1 of the forced exit at SHUTDOWN_TIMEOUT_MS: the shutdown finished within it.
      expect(await app.exited).toBe(0);
      expect(reader.json()).toEqual([{ before: 'shutdown', user_ip: '127.0.0.1' }]);
      await expect(request(`${url}/health/live`)).rejects.toThrow(/ECONNREFUSED/);
      expect(app.output()).toMatch(/SIGTERM/);
      // Logged just before process.exit(): the asynchronous log stream is flushed on exit.
      expect(app.output()).toContain('"msg":"Stopped"');
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it.each([
    ['PORT', 'abc'],
    ['MAX_EVENT_BYTES', '-5'],
    ['TRUST_PROXY', 'not-an-address'],
    ['SSE_HEARTBEAT_MS', '1.5'],
  ])('exits 1 naming the variable when %s=%s', async (name, value) => {
    const app = spawnApp({ [name]: value });
    const code = await app.exited;
    expect(code).toBe(1);
    expect(app.output()).toContain(`${name}=${JSON.stringify(value)}`);
  });

  it('warns about a variable that looks like a misspelt one of the service, without its value', async () => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), REDIS_URl: 'redis://:hunter2@redis:6379', SUBSCRIBER_TOKEN: 'x' });
    try {
      await waitUntilListening(port);
      await waitUntil(() => /SUBSCRIBER_TOKEN is not/.test(app.output()), 5000, 'the warnings');
      expect(app.output()).toContain(
        'REDIS_URl is not a variable of this service and is ignored: did you mean REDIS_URL?',
      );
      expect(app.output()).toContain(
        'SUBSCRIBER_TOKEN is not a variable of this service and is ignored: did you mean SUBSCRIBER_TOKENS?',
      );
      expect(app.output()).not.toContain('hunter2');
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('starts in two lines at info level: where it listens, what is enabled; TRUST_PROXY=true warns', async () => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), SUBSCRIBER_TOKENS: 'a-token-of-16-chars', TRUST_PROXY: 'true' });
    try {
      await waitUntilListening(port);
      await waitUntil(() => /TRUST_PROXY=true/.test(app.output()), 5000, 'the warning');
      const lines = app
        .output()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(lines.filter((l) => l.level === 30).map((l) => l.msg.split(':')[0])).toEqual([
        `Listening on http`,
        'Enabled',
      ]);
      expect(lines.find((l) => l.msg.startsWith('Enabled'))?.msg).toBe(
        'Enabled: no backplane (this instance alone); 1 subscriber token(s) required on /events and /metrics; ' +
          'at most 10000 subscribers (256 per address); no rate limit',
      );
      expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
        "TRUST_PROXY=true: every hop of X-Forwarded-For is believed, so any client can set its own user_ip; list the load balancer's addresses or networks instead (e.g. TRUST_PROXY=10.0.0.0/8)",
      ]);
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('logs one start-up line with the address and the effective configuration', async () => {
    const port = await freePort();
    const app = spawnApp({ PORT: String(port), MAX_SUBSCRIBERS: '77' });
    try {
      await waitUntilListening(port);
      expect(app.output()).toMatch(
        new RegExp(`Listening on http://127\\.0\\.0\\.1:${port}\\b[^\\n]*"maxSubscribers":77`),
      );
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  /** The exit code, or 'still running' after `ms`. */
  const exitWithin = (app: ChildApp, ms: number) =>
    Promise.race([
      app.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), ms).unref()),
    ]);

  /** What a process that must not start printed: one line, no stack trace, nothing claiming it started. */
  const expectOneLineRefusal = (output: string, name: string) => {
    expect(output.trim().split('\n')).toEqual([expect.stringContaining(`${name}=`)]);
    expect(output).not.toMatch(/\n\s+at |successfully started|Listening/);
  };

  it.each([
    ['SUBSCRIBER_TOKENS', ','],
    ['SUBSCRIBER_TOKENS', ' , '],
    ['REDIS_URL', 'redis://:secret%pw@host'],
    ['REDIS_URL', 'redis://user%zz:secret@host'],
    ['HOST', 'not..valid'],
  ])('refuses %s=%j at validation: one line naming it, no secret, exit 1', async (name, value) => {
    const app = spawnApp({ [name]: value, PORT: String(await freePort()) });
    try {
      expect(await exitWithin(app, 10_000)).toBe(1);
      expectOneLineRefusal(app.output(), name);
      expect(app.output()).not.toContain('secret');
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('exits 1 in one line naming HOST when HOST is no address of this machine', async () => {
    const app = spawnApp({ HOST: '10.255.255.1', PORT: String(await freePort()) });
    try {
      expect(await exitWithin(app, 10_000)).toBe(1);
      expectOneLineRefusal(app.output(), 'HOST');
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('exits 1 in one line naming PORT when the port is taken', async () => {
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const app = spawnApp({ PORT: String(port) });
      try {
        expect(await exitWithin(app, 10_000)).toBe(1);
        expectOneLineRefusal(app.output(), 'PORT');
        expect(app.output()).toMatch(/in use/);
      } finally {
        app.child.kill('SIGKILL');
      }
    } finally {
      taken.close();
    }
  });

  /** Starts the service with PORT=0 and returns the URL its start-up line gives. */
  async function startOnAnyPort(env: Record<string, string>) {
    const app = spawnApp({ PORT: '0', ...env });
    await waitUntil(() => /Listening on \S+/.test(app.output()) || app.output().includes('Cannot'), 15000, 'start');
    const logged = /Listening on (http:\/\/\S+?)"/.exec(app.output())?.[1] ?? 'none';
    return { app, logged };
  }

  it('without HOST, listens on IPv6 and IPv4, and logs the port PORT=0 chose', async () => {
    const { app, logged } = await startOnAnyPort({ HOST: '' });
    try {
      expect(logged).toMatch(/^http:\/\/\[::\]:[1-9]\d*$/);
      const { port } = new URL(logged);
      expect((await request(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
      expect((await request(`http://[::1]:${port}/health/live`)).status).toBe(200);
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('with HOST=::1, logs a URL that answers', async () => {
    const { app, logged } = await startOnAnyPort({ HOST: '::1' });
    try {
      expect(logged).toMatch(/^http:\/\/\[::1\]:[1-9]\d*$/);
      expect((await request(`${logged}/health/live`)).status).toBe(200);
    } finally {
      app.child.kill('SIGKILL');
    }
  });
});
