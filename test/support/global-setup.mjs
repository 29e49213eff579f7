// Jest's global setup: builds the service once per test run, as `npm run build` does, when dist/ is missing or
// older than the sources. The process tests then start dist/ as `npm start` does (support/child-app.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function newest(entry) {
  const stat = fs.statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(entry).map((name) => newest(path.join(entry, name))));
}

export default function buildOnce() {
  const main = path.join(root, 'dist', 'main.js');
  const inputs = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];
  const built = fs.existsSync(main) ? fs.statSync(main).mtimeMs : 0;
  if (inputs.every((input) => newest(path.join(root, input)) < built)) return;
  process.stdout.write('\nglobal setup: npm run build\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
