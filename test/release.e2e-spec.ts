import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface DryRelease {
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

const runner = path.resolve('test/support/dry-release.mjs');
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

function dryRelease(repo: string): DryRelease {
  const out = execFileSync(process.execPath, [runner], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOME: path.dirname(repo), GIT_CONFIG_NOSYSTEM: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return JSON.parse(out.toString()) as DryRelease;
}

describe('release: semantic-release with .releaserc.json, dry run on a local repository (no network, no token)', () => {
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps every plugin but the GitHub one, which release.yml runs', () => {
    const names = releaseConfig.plugins.map(pluginName);
    expect(names).toEqual(expect.arrayContaining(['@semantic-release/changelog', '@semantic-release/git']));
    expect(names).toContain('@semantic-release/github');
  });

  it('feat -> minor, with the features and every other type in their sections', () => {
    const next = dryRelease(
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
    const next = dryRelease(repositoryWith(['fix(health): report the backplane', 'test: cover it']));
    expect(next).toMatchObject({ version: '1.0.1', type: 'patch' });
    expect(next.notes).toMatch(/^### Bug Fixes$/m);
    expect(next.notes).not.toMatch(/^### Features$/m);
  });

  it('`!` -> major, with a breaking-changes section', () => {
    const next = dryRelease(repositoryWith(['feat(events)!: drop the v1 envelope', 'fix: a typo']));
    expect(next).toMatchObject({ version: '2.0.0', type: 'major' });
    expect(next.notes).toMatch(/^### ⚠ BREAKING CHANGES$/m);
    expect(next.notes).toMatch(/drop the v1 envelope/);
  });

  it('a BREAKING CHANGE footer -> major', () => {
    const next = dryRelease(
      repositoryWith(['fix(config): rename a variable\n\nBREAKING CHANGE: SSE_HEARTBEAT is now SSE_HEARTBEAT_MS']),
    );
    expect(next).toMatchObject({ version: '2.0.0', type: 'major' });
    expect(next.notes).toMatch(/^### ⚠ BREAKING CHANGES$/m);
    expect(next.notes).toMatch(/SSE_HEARTBEAT is now SSE_HEARTBEAT_MS/);
  });

  it('docs only (or other types that change no code) -> no release', () => {
    expect(dryRelease(repositoryWith(['docs: explain the console', 'docs(readme): fix a link']))).toEqual({
      version: null,
    });
    expect(dryRelease(repositoryWith(['test: cover the stream', 'ci: cache npm', 'chore: tidy up']))).toEqual({
      version: null,
    });
  });
});
