import { postEvent, request } from './support/http.js';
import { buildOnce, freePort, removeBuild, spawnApp, waitUntilListening } from './support/child-app.js';
import { SseClient } from './support/sse-client.js';

describe('the service as a process', () => {
  let main: string;
  beforeAll(() => {
    main = buildOnce();
  }, 120_000);
  afterAll(removeBuild);

  it('on SIGTERM: ends open streams cleanly, refuses new connections, exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    const port = await freePort();
    const app = spawnApp(main, { PORT: String(port), SHUTDOWN_TIMEOUT_MS: '5000' });
    try {
      await waitUntilListening(port);
      const url = `http://127.0.0.1:${port}`;
      const reader = await new SseClient(`${url}/events`).connect();
      await reader.waitFor((c) => c.comments > 0, 2000, 'the greeting');
      expect((await postEvent(url, { before: 'shutdown' })).status).toBe(204);
      await reader.waitForEvents(1);

      const started = Date.now();
      app.child.kill('SIGTERM');
      await reader.waitForEnd(5000);
      const code = await app.exited;
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(reader.json()).toEqual([{ before: 'shutdown', user_ip: '127.0.0.1' }]);
      await expect(request(`${url}/health/live`)).rejects.toThrow(/ECONNREFUSED/);
      expect(app.output()).toMatch(/SIGTERM/);
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
    const app = spawnApp(main, { [name]: value });
    const code = await app.exited;
    expect(code).toBe(1);
    expect(app.output()).toContain(`${name}=${JSON.stringify(value)}`);
  });

  it('logs one start-up line with the address and the effective configuration', async () => {
    const port = await freePort();
    const app = spawnApp(main, { PORT: String(port), MAX_SUBSCRIBERS: '77' });
    try {
      await waitUntilListening(port);
      expect(app.output()).toMatch(
        new RegExp(`Listening on http://127\\.0\\.0\\.1:${port}\\b[^\\n]*"maxSubscribers":77`),
      );
    } finally {
      app.child.kill('SIGKILL');
    }
  });
});
