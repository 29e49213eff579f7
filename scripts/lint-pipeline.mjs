#!/usr/bin/env node
/**
 * The pipeline's own lint, part of `npm run lint`:
 * - every .github/workflows/*.yml against the workflow schema (@action-validator/cli),
 * - shellcheck on every `run:` step of those workflows (written to temporary files, `${{ }}` expressions replaced
 *   by a plain word), and on scripts/*.sh, .ci/run and .githooks/*.
 * Exits 1 if any of them reports anything. Needs shellcheck on PATH (Debian: shellcheck, in .ci/debian-packages.txt).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workflowsDir = path.join(root, '.github/workflows');
const bin = (name) => path.join(root, 'node_modules/.bin', name);
let failures = 0;

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (result.error?.code === 'ENOENT') {
    throw new Error(`${command} is not installed (shellcheck: apt-get install shellcheck; action-validator: npm ci)`);
  }
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  return result;
}

function report(label, result) {
  const out = `${result.stdout}${result.stderr}`.trim();
  if (result.status === 0 && out === '') {
    console.log(`ok    ${label}`);
    return;
  }
  failures++;
  console.log(`FAIL  ${label}\n${out}`);
}

const workflows = readdirSync(workflowsDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

for (const file of workflows) {
  report(`action-validator .github/workflows/${file}`, run(bin('action-validator'), [path.join(workflowsDir, file)]));
}

// The steps' scripts. GitHub runs `bash -e {0}` (the default shell), so they are checked as bash.
const temp = mkdtempSync(path.join(tmpdir(), 'lint-pipeline-'));
try {
  const stepFiles = [];
  for (const file of workflows) {
    const workflow = parse(readFileSync(path.join(workflowsDir, file), 'utf8'));
    for (const [jobId, job] of Object.entries(workflow.jobs ?? {})) {
      const jobShell = job.defaults?.run?.shell ?? workflow.defaults?.run?.shell ?? 'bash';
      (job.steps ?? []).forEach((step, index) => {
        if (typeof step.run !== 'string') return;
        const shell = String(step.shell ?? jobShell).split(/\s/)[0];
        if (!['bash', 'sh'].includes(shell)) return;
        const name = `${file}:${jobId}:step-${index + 1}${step.name ? ` (${step.name})` : ''}`;
        const script = step.run.replace(/\$\{\{[\s\S]*?\}\}/g, 'GITHUB_EXPRESSION');
        const target = path.join(temp, `${path.basename(file, path.extname(file))}.${jobId}.${index + 1}.sh`);
        writeFileSync(target, `#!/usr/bin/env ${shell}\n${script}`);
        stepFiles.push({ name, target });
      });
    }
  }
  for (const { name, target } of stepFiles) report(`shellcheck ${name}`, run('shellcheck', [target]));
} finally {
  rmSync(temp, { recursive: true, force: true });
}

const scripts = [
  ...readdirSync(path.join(root, 'scripts'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => `scripts/${f}`),
  '.ci/run',
  ...readdirSync(path.join(root, '.githooks')).map((f) => `.githooks/${f}`),
].sort();
report(`shellcheck ${scripts.join(' ')}`, run('shellcheck', scripts));

if (failures) {
  console.error(`lint-pipeline: ${failures} check(s) failed`);
  process.exit(1);
}
