import { readFileSync } from 'node:fs';
import { request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { spawnApp, waitUntilListening } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { scrape, sample } from './support/metrics.js';

const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** Runs `body` with APP_VERSION and GIT_COMMIT set (or unset) in this process, as the image's ENV sets them. */
async function withBuildEnv(build: { APP_VERSION?: string; GIT_COMMIT?: string }, body: () => Promise<void>) {
  const saved = { APP_VERSION: process.env.APP_VERSION, GIT_COMMIT: process.env.GIT_COMMIT };
  for (const [name, value] of Object.entries({ APP_VERSION: undefined, GIT_COMMIT: undefined, ...build })) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('build info: the running version and commit', () => {
  let running: RunningApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('are in GET /health details and in the pillarbox_build_info gauge, from APP_VERSION and GIT_COMMIT', async () => {
    await withBuildEnv({ APP_VERSION: '9.8.7-rc.1', GIT_COMMIT: '0123abc' }, async () => {
      running = await startApp();
    });
    const res = await request(`${running!.url}/health`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).details.build).toEqual({ status: 'up', version: '9.8.7-rc.1', commit: '0123abc' });
    const samples = await scrape(running!.url);
    expect(sample(samples, 'pillarbox_build_info{version="9.8.7-rc.1",commit="0123abc"}')).toBe(1);
    expect([...samples.keys()].filter((k) => k.startsWith('pillarbox_build_info'))).toHaveLength(1);
  });

  it("fall back to package.json's version and 'unknown' when unset or not a plain version", async () => {
    await withBuildEnv({ GIT_COMMIT: 'abc"} 1\nevil_metric 2' }, async () => {
      running = await startApp();
    });
    const res = await request(`${running!.url}/health`);
    expect(JSON.parse(res.body).details.build).toEqual({ status: 'up', version: packageVersion, commit: 'unknown' });
    const samples = await scrape(running!.url);
    expect(sample(samples, `pillarbox_build_info{version="${packageVersion}",commit="unknown"}`)).toBe(1);
    expect(samples.has('evil_metric')).toBe(false);
  });

  describe('as a process', () => {
    it('are in the start-up log line', async () => {
      const port = await freePort();
      const app = spawnApp({ PORT: String(port), APP_VERSION: '1.2.3', GIT_COMMIT: 'deadbeef' });
      try {
        await waitUntilListening(port);
        const line = app
          .output()
          .split('\n')
          .find((l) => l.includes('Listening on'));
        expect(line).toBeDefined();
        expect(JSON.parse(line!)).toMatchObject({
          msg: `Listening on http://127.0.0.1:${port}`,
          build: { version: '1.2.3', commit: 'deadbeef' },
        });
      } finally {
        app.child.kill('SIGKILL');
      }
    });
  });
});
