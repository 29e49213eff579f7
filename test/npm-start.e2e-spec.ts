import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitUntil } from './support/wait-until.js';
import { buildOnce, removeBuild } from './support/child-app.js';
import { freePort } from './support/free-port.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start (the quick start)', () => {
  let project: string;
  beforeAll(() => {
    // A copy of package.json's start script, run by the real npm, with dist/ the build of the current sources.
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    project = mkdtempSync(path.resolve('test-output', 'npm-start-'));
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'npm-start-check', private: true, scripts: { start: scripts.start } }),
    );
    symlinkSync(path.dirname(buildOnce()), path.join(project, 'dist'));
  }, 120_000);
  afterAll(() => {
    rmSync(project, { recursive: true, force: true });
    removeBuild();
  });

  it('stops the service when npm gets SIGTERM, leaving no orphan', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: project,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const npmExited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
    let service = 0;
    try {
      await waitUntil(() => /"msg":"Listening on/.test(output), 20_000, 'the start-up line');
      // The service's own pid, from its start-up line: npm's child is a shell unless the script execs node.
      service = Number(/"pid":(\d+)[^\n]*"msg":"Listening on/.exec(output)?.[1]);
      expect(service).toBeGreaterThan(0);
      expect(service).not.toBe(npm.pid);

      npm.kill('SIGTERM');
      await npmExited;
      await waitUntil(() => !alive(service), 5000, 'the service to exit');
      expect(output).toMatch(/"msg":"Stopped"/);
    } finally {
      npm.kill('SIGKILL');
      if (service && alive(service)) process.kill(service, 'SIGKILL');
    }
  });
});
