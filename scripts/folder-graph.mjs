#!/usr/bin/env node
// Prints which folders of src/ import which (`a -> b`), from the relative imports of the TypeScript sources, and
// fails when the graph has a cycle: dependencies between folders point one way (docs/architecture.md).
//   node scripts/folder-graph.mjs [folder]      (default: src/)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = path.resolve(process.argv[2] ?? fileURLToPath(new URL('../src', import.meta.url)));
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** The folder of src/ a file belongs to; files at the top of src/ belong to `(root)`. */
const folderOf = (file) => {
  const relative = path.relative(src, file);
  return relative.includes(path.sep) ? relative.split(path.sep)[0] : '(root)';
};

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) yield full;
  }
}

const edges = new Map();
for (const file of sources(src)) {
  const from = folderOf(file);
  for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const to = folderOf(path.resolve(path.dirname(file), match[1] ?? match[2]));
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
  }
}

for (const from of [...edges.keys()].sort()) console.log(`${from} -> ${[...edges.get(from)].sort().join(', ')}`);

// Depth-first search for a cycle among the folders.
const state = new Map();
const stack = [];
function visit(node) {
  state.set(node, 'open');
  stack.push(node);
  for (const next of edges.get(node) ?? []) {
    if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
    if (!state.has(next)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
  }
  stack.pop();
  state.set(node, 'done');
  return undefined;
}
for (const node of edges.keys()) {
  const cycle = state.has(node) ? undefined : visit(node);
  if (cycle) {
    console.error(`folder-graph: a cycle: ${cycle.join(' -> ')}`);
    process.exit(1);
  }
}
console.log('folder-graph: no cycle');
