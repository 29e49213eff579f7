import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const graph = (folder?: string) =>
  spawnSync(process.execPath, ['scripts/folder-graph.mjs', ...(folder ? [folder] : [])], { encoding: 'utf8' });

describe('scripts/folder-graph.mjs', () => {
  it('prints the folder graph of src/, which has no cycle', () => {
    const result = graph();
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^events -> .*\bbackplane\b/m);
    expect(result.stdout).toMatch(/^health -> .*\bevents\b/m);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('folder-graph: no cycle');
  });

  it('fails on a cycle, naming it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'folder-graph-'));
    try {
      for (const [file, text] of Object.entries({
        'a/a.ts': "import { b } from '../b/b.js';\nexport const a = b;\n",
        'b/b.ts': "export const b = 1;\nexport { c } from '../c/c.js';\n",
        'c/c.ts': "export const c = 2;\nconst late = () => import('../a/a.js');\n",
      })) {
        mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      }
      const result = graph(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toBe('folder-graph: a cycle: a -> b -> c -> a\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
