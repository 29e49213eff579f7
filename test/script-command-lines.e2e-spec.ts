import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './support/free-port.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(['scripts/simulate.mjs', 'bench/bench.mjs', 'bench/cross-instance.mjs'])('%s', (script) => {
  it('prints its usage on stdout for --help and -h, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await run(script, [flag]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: npm run /);
    }
  });

  it.each([['--bogus'], ['--bogus=1'], ['stray']])(
    'refuses %s with the reason and the usage on stderr, exit 2, no stack trace',
    async (arg) => {
      const result = await run(script, [arg]);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(/^\w[\w-]*: .*(bogus|stray)/);
      expect(result.stderr).toContain('Usage: npm run ');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    },
  );
});

describe('bench/bench.mjs --json', () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(path.resolve('test-output', 'bench-json-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('creates the folder of the JSON file', async () => {
    // Nothing listens on the port: the scenario fails after a few seconds, and the report is still written.
    const file = path.join(folder, 'missing', 'x.json');
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await run('bench/bench.mjs', ['-s', 'idle', '--url', url, '--json', file]);
    expect(result.code).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ meta: { target: url }, scenarios: { idle: {} } });
  }, 30_000);
});

describe('bench/bench.mjs --idle-settled', () => {
  it('refuses less than 3 s (the first reading is at 2 s), naming the option, before starting anything', async () => {
    const result = await run('bench/bench.mjs', ['-s', 'idle', '--skip-build', '--idle-settled', '2']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--idle-settled must be at least 3');
  });
});

describe('bench/bench.mjs --cgroup, --compare and the soak, before starting anything', () => {
  it.each<[string, string[], string]>([
    [
      '--cgroup with --url',
      ['--url', 'http://127.0.0.1:9', '--cgroup', '25,512'],
      '--cgroup is about servers the benchmark starts',
    ],
    [
      '--compare with --url',
      ['--url', 'http://127.0.0.1:9', '--compare', 'go=x'],
      '--compare is about servers the benchmark starts',
    ],
    [
      'a --cgroup that is not CPU_MS,MEMORY_MIB',
      ['--skip-build', '--cgroup', '25'],
      '--cgroup must be CPU_MS,MEMORY_MIB',
    ],
    ['a --compare without a label', ['--skip-build', '--compare', 'sleep 1'], 'must be LABEL=COMMAND'],
    ['a --compare label taken', ['--skip-build', '--compare', 'app=sleep 1'], 'the label app is taken'],
    [
      'too few soak sessions',
      ['-s', 'soak', '--skip-build', '--soak-sessions', '10'],
      '--soak-sessions must be at least 20',
    ],
    ['capacity with --url', ['-s', 'capacity', '--url', 'http://127.0.0.1:9'], 'capacity starts its own servers'],
  ])('refuses %s, naming the option, exit 2', async (_what, args, message) => {
    const result = await run('bench/bench.mjs', args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });
});
