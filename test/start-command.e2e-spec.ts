import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(`${root}/${file}`, 'utf8');

/** The flags bench/lib/target.mjs starts the service with (the benchmark is plain JavaScript: run, not imported). */
function benchFlags(): string[] {
  const script = `import('./bench/lib/target.mjs').then((m) => console.log(JSON.stringify(m.startFlags('.'))))`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(result.stdout) as string[];
}

/** The Node flags of the Dockerfile's exec-form CMD (`["node", ...flags, "dist/main.js"]`). */
function dockerFlags(): string[] {
  const line = read('Dockerfile')
    .split('\n')
    .filter((l) => l.startsWith('CMD '))
    .at(-1);
  const argv = JSON.parse(line?.slice(4) ?? '[]') as string[];
  expect(argv[0]).toBe('node');
  expect(argv.at(-1)).toBe('dist/main.js');
  return argv.slice(1, -1);
}

describe('the start command', () => {
  it('runs with the same Node flags in the image, with npm start and in the benchmark', () => {
    const flags = dockerFlags();
    expect(flags).toEqual(expect.arrayContaining(['--max-semi-space-size=2', '--no-maglev-destroy-on-background']));
    expect(benchFlags()).toEqual(flags);
    const pkg = JSON.parse(read('package.json')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toBe(['exec', 'node', ...flags, 'dist/main.js'].join(' '));
  });

  it("runs with the image's Node flags in docker-compose.yml, whose command replaces the image's CMD", () => {
    // The compose command is a shell line (it reads the token's secret first): its `exec node ... dist/main.js`.
    const line = /exec node ([^'"\n]*)dist\/main\.js/.exec(read('docker-compose.yml'));
    expect(line).not.toBeNull();
    expect(line![1].trim().split(/\s+/).filter(Boolean)).toEqual(dockerFlags());
  });

  it('uses flags this Node accepts', () => {
    const result = spawnSync(process.execPath, [...dockerFlags(), '-e', '0'], { encoding: 'utf8' });
    expect(`${result.status} ${result.stderr}`).toBe('0 ');
  });
});
