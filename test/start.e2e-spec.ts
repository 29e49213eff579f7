import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support/child-app.js';
import { freePort } from './support/free-port.js';
import { waitUntil } from './support/wait-until.js';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Another `node` on this machine whose version the service does not run on (CI machines have Node 20), if any. */
function olderNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    const result = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    const major = Number(result.stdout?.split('.')[0]);
    if (result.status === 0 && major > 0 && major < 22) return candidate;
  }
  return undefined;
}

describe('npm start (the quick start)', () => {
  it('stops the service when npm gets SIGTERM, leaving no orphan', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
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
      // The start script's Node options reach the service.
      expect(readFileSync(`/proc/${service}/environ`, 'utf8')).toContain('NODE_OPTIONS=--max-semi-space-size=2');

      npm.kill('SIGTERM');
      await npmExited;
      await waitUntil(() => !alive(service), 5000, 'the service to exit');
      expect(output).toMatch(/"msg":"Stopped"/);
    } finally {
      npm.kill('SIGKILL');
      if (service && alive(service)) process.kill(service, 'SIGKILL');
    }
  });

  it('says to build first when there is no build', () => {
    const project = mkdtempSync(path.join(ROOT, 'test-output', 'no-build-'));
    try {
      mkdirSync(path.join(project, 'scripts'));
      copyFileSync(path.join(ROOT, 'scripts', 'start.sh'), path.join(project, 'scripts', 'start.sh'));
      const result = spawnSync('sh', ['scripts/start.sh'], { cwd: project, encoding: 'utf8' });
      expect([result.status, result.stdout, result.stderr]).toEqual([
        1,
        '',
        'npm start: there is no build (dist/main.js): run npm run build first\n',
      ]);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  const older = olderNode();
  (older ? it : it.skip)(`on an older Node (${older ?? 'none on this machine'}), exits at once with one line`, () => {
    const version = execFileSync(older!, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const result = spawnSync(older!, ['dist/main.js'], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `Node ${version} cannot run this service: it needs Node 22.22.3 or a later 22.x, or 24.15.0 or later. ` +
        'Get one with `nvm install` (reads .nvmrc) or `export PATH="$(bash scripts/install-node.sh $(cat .nvmrc)):$PATH"`.',
    ]);
  });
});

describe('the start command, wherever the service runs', () => {
  it('is scripts/start.sh in npm start, the image and docker-compose', () => {
    // exec: npm's SIGTERM reaches the service, not a shell that would leave it running.
    expect((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start).toBe(
      'exec sh scripts/start.sh',
    );
    const cmd = read('Dockerfile')
      .split('\n')
      .filter((line) => line.startsWith('CMD '))
      .at(-1);
    expect(JSON.parse(cmd!.slice(4))).toEqual(['sh', 'scripts/start.sh']);
    expect(read('Dockerfile')).toContain('COPY scripts/start.sh ./scripts/start.sh');
    // Its command replaces the image's CMD: it must run the same script.
    expect(read('docker-compose.yml')).toMatch(/exec sh scripts\/start\.sh'/);
  });

  it('passes Node only options its documentation lists and NODE_OPTIONS allows', () => {
    const options = /NODE_OPTIONS="([^"$]*)/.exec(read('scripts/start.sh'))?.[1].trim().split(/\s+/);
    expect(options).toEqual(['--max-semi-space-size=2']);
    const result = spawnSync(process.execPath, ['-e', '0'], {
      env: { NODE_OPTIONS: options!.join(' ') },
      encoding: 'utf8',
    });
    expect(`${result.status} ${result.stderr}`).toBe('0 ');
  });

  it('.nvmrc names the Node of the image', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-/m.exec(read('Dockerfile'))?.[1];
    expect(read('.nvmrc').trim()).toBe(image);
  });
});
