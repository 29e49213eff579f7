import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildOnce, removeBuild, spawnApp, waitUntilListening } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { postEvent, request } from './support/http.js';

// What src/app.preload.ts defers (see docs/performance.md, "RSS at start"): the built service, started as in
// production, serves, validates with class-validator and exits without having loaded them.
describe('the built service: modules deferred at start', () => {
  afterAll(() => removeBuild());

  it('does not load libphonenumber-js, qs, @opentelemetry/api, undici, tls nor https while it starts, serves and stops', async () => {
    const main = buildOnce();
    const log = path.join(path.dirname(main), 'deferred-modules.log');
    const hook = ['--import', path.resolve('test/support/module-log.mjs')];
    const port = await freePort();
    const app = spawnApp(
      main,
      { PORT: String(port), MODULE_LOG: log, STRICT_SCHEMA: 'true', SHUTDOWN_DRAIN_MS: '0' },
      hook,
    );
    try {
      await waitUntilListening(port);
      const url = `http://127.0.0.1:${port}`;
      expect((await request(`${url}/health`)).status).toBe(200);
      expect((await request(`${url}/metrics`)).status).toBe(200);
      const event = { event_name: 'START', session_id: 's', timestamp: 1750000000000, version: 1, data: {} };
      expect((await postEvent(url, event)).status).toBe(204);
      // class-validator checks the envelope (STRICT_SCHEMA=true).
      expect((await postEvent(url, { ...event, event_name: 'PAUSE' })).status).toBe(400);
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.child.kill('SIGKILL');
    }
    const loaded = readFileSync(log, 'utf8').split('\n');
    const from = (pkg: string) => loaded.filter((url) => url.includes(`/node_modules/${pkg}/`));
    // The log sees packages and Node's modules when they are loaded: the checks below can fail.
    expect(from('class-validator').length).toBeGreaterThan(0);
    expect(loaded).toContain('builtin:NativeModule http');
    expect(from('libphonenumber-js')).toEqual([]);
    expect(from('qs')).toEqual([]);
    expect(from('@opentelemetry/api')).toEqual([]);
    expect(loaded.filter((m) => m.startsWith('builtin:') && /undici|http2/.test(m))).toEqual([]);
    expect(loaded.filter((m) => /^builtin:NativeModule (tls|https|internal\/tls\/.*)$/.test(m))).toEqual([]);
  });
});
