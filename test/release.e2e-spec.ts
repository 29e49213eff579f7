import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface ReleaseResult {
  version: string | null;
  type?: string;
  notes?: string;
}

type PluginEntry = string | [string, Record<string, unknown>];

/** The project's release configuration: the very file semantic-release reads in release.yml. */
const releaseConfig = JSON.parse(readFileSync('.releaserc.json', 'utf8')) as { plugins: PluginEntry[] };
const pluginName = (p: PluginEntry) => (typeof p === 'string' ? p : p[0]);
/** Talks to the GitHub API (verifyConditions needs a token): the only plugin left out here, where nothing is online. */
const ONLINE_PLUGINS = new Set(['@semantic-release/github']);

const runner = path.resolve('test/support/run-semantic-release.mjs');
const dirs: string[] = [];

/**
 * A throwaway repository with a bare clone as `origin` (semantic-release checks that it may push, with
 * `git push --dry-run`, which a local bare repository answers offline), a released v1.0.0, then `messages` as
 * commits pushed to main. A clean environment: no CI variables (a GitHub Actions job would make semantic-release
 * see a pull request or another branch), no token, HOME in the temporary folder (no global git config).
 */
function repositoryWith(messages: string[]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'release-dry-run-'));
  dirs.push(root);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: root,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
  const repo = path.join(root, 'repo');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env, stdio: 'pipe' });
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', path.join(root, 'origin.git')], { env });
  execFileSync('git', ['init', '-q', '-b', 'main', repo], { env });
  git('remote', 'add', 'origin', `file://${path.join(root, 'origin.git')}`);
  const config = { ...releaseConfig, plugins: releaseConfig.plugins.filter((p) => !ONLINE_PLUGINS.has(pluginName(p))) };
  writeFileSync(path.join(repo, '.releaserc.json'), JSON.stringify(config));
  writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'dry-run', version: '1.0.0', private: true }));
  writeFileSync(path.join(repo, 'CHANGELOG.md'), readFileSync('CHANGELOG.md'));
  git('add', '.');
  git('commit', '-q', '-m', 'chore: initial');
  git('tag', 'v1.0.0');
  messages.forEach((message, i) => {
    writeFileSync(path.join(repo, `change-${i}.txt`), message);
    git('add', '.');
    git('commit', '-q', '-m', message);
  });
  git('push', '-q', 'origin', 'main', '--tags');
  return repo;
}

function runRelease(repo: string, options: { publish?: boolean; env?: Record<string, string> } = {}): ReleaseResult {
  const out = execFileSync(process.execPath, [runner, ...(options.publish ? ['--publish'] : [])], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOME: path.dirname(repo), GIT_CONFIG_NOSYSTEM: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return JSON.parse(out.toString()) as ReleaseResult;
}

describe('release: semantic-release with .releaserc.json on throwaway local repositories (no network, no token)', () => {
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps every plugin but the GitHub one, which release.yml runs', () => {
    const names = releaseConfig.plugins.map(pluginName);
    expect(names).toEqual(expect.arrayContaining(['@semantic-release/changelog', '@semantic-release/git']));
    expect(names).toContain('@semantic-release/github');
  });

  it('feat -> minor, with the features and every other type in their sections', () => {
    const next = runRelease(
      repositoryWith([
        'feat(events): accept batches',
        'fix(health): report the backplane',
        'docs: explain the console',
        'style: format the README',
        'refactor(events): one reader',
        'perf(events): fewer copies',
        'test: cover the stream',
        'ci: cache npm',
        'chore: update a dependency',
      ]),
    );
    expect(next).toMatchObject({ version: '1.1.0', type: 'minor' });
    const sections = [...next.notes!.matchAll(/^### (.+)$/gm)].map((m) => m[1].trim());
    expect(sections).toEqual([
      'Features',
      'Bug Fixes',
      'Performance Improvements',
      'Documentation',
      'Styles',
      'Code Refactoring',
      'Tests',
      'Continuous Integration',
      'Miscellaneous Chores',
    ]);
    expect(next.notes).toMatch(/^\* \*\*events:\*\* accept batches/m);
    expect(next.notes).toMatch(/^\* update a dependency/m);
  });

  it('fix -> patch', () => {
    const next = runRelease(repositoryWith(['fix(health): report the backplane', 'test: cover it']));
    expect(next).toMatchObject({ version: '1.0.1', type: 'patch' });
    expect(next.notes).toMatch(/^### Bug Fixes$/m);
    expect(next.notes).not.toMatch(/^### Features$/m);
  });

  it('`!` -> major, with a breaking-changes section', () => {
    const next = runRelease(repositoryWith(['feat(events)!: drop the v1 envelope', 'fix: a typo']));
    expect(next).toMatchObject({ version: '2.0.0', type: 'major' });
    expect(next.notes).toMatch(/^### ⚠ BREAKING CHANGES$/m);
    expect(next.notes).toMatch(/drop the v1 envelope/);
  });

  it('a BREAKING CHANGE footer -> major', () => {
    const next = runRelease(
      repositoryWith(['fix(config): rename a variable\n\nBREAKING CHANGE: SSE_HEARTBEAT is now SSE_HEARTBEAT_MS']),
    );
    expect(next).toMatchObject({ version: '2.0.0', type: 'major' });
    expect(next.notes).toMatch(/^### ⚠ BREAKING CHANGES$/m);
    expect(next.notes).toMatch(/SSE_HEARTBEAT is now SSE_HEARTBEAT_MS/);
  });

  it('a real release into the local origin: CHANGELOG.md, package.json, the release commit and tag, the outputs', () => {
    const repo = repositoryWith(['feat(events): accept batches', 'docs: explain batches']);
    const githubOutput = path.join(path.dirname(repo), 'github-output');
    writeFileSync(githubOutput, '');
    const released = runRelease(repo, { publish: true, env: { GITHUB_OUTPUT: githubOutput } });
    expect(released).toMatchObject({ version: '1.1.0' });
    // What release.yml reads to build, push and deploy (written by @semantic-release/exec).
    expect(readFileSync(githubOutput, 'utf8')).toBe('version=1.1.0\ntag=v1.1.0\n');
    const origin = path.join(path.dirname(repo), 'origin.git');
    const show = (ref: string) => execFileSync('git', ['-C', origin, 'show', ref], { encoding: 'utf8' });
    expect(execFileSync('git', ['-C', origin, 'log', '-1', '--format=%s', 'v1.1.0'], { encoding: 'utf8' })).toBe(
      'chore(release): 1.1.0 [skip ci]\n',
    );
    expect(JSON.parse(show('v1.1.0:package.json')).version).toBe('1.1.0');
    const changelog = show('v1.1.0:CHANGELOG.md');
    // The repository's CHANGELOG.md is the configured title: the notes come right after it, newest first.
    const title = readFileSync('CHANGELOG.md', 'utf8').trimEnd();
    expect(changelog.startsWith(`${title}\n\n## [1.1.0](`)).toBe(true);
    expect(changelog).toMatch(/^### Features\n\n\* \*\*events:\*\* accept batches/m);
    expect(changelog).toMatch(/^### Documentation\n\n\* explain batches/m);
    // Nothing new since: the next push releases nothing.
    execFileSync('git', ['-C', repo, 'pull', '-q', 'origin', 'main']);
    expect(runRelease(repo)).toEqual({ version: null });
  });

  it('docs only (or other types that change no code) -> no release', () => {
    expect(runRelease(repositoryWith(['docs: explain the console', 'docs(readme): fix a link']))).toEqual({
      version: null,
    });
    expect(runRelease(repositoryWith(['test: cover the stream', 'ci: cache npm', 'chore: tidy up']))).toEqual({
      version: null,
    });
  });
});
