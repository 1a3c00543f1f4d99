import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['core', 'api', 'worker', 'cli', 'operator'];
const IMPORT_RE = /^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm;

function sourceFiles(dir: string): string[] {
  const full = path.join(ROOT, dir);
  let entries: string[];
  try {
    entries = readdirSync(full);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) return sourceFiles(rel);
    return name.endsWith('.ts') ? [rel] : [];
  });
}

/** file -> the project files it imports (relative imports only) */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const targets = [...text.matchAll(IMPORT_RE)].map((m) => path.normalize(path.join(path.dirname(file), m[1] as string)));
    graph.set(file, targets);
  }
  return graph;
}

describe('architecture', () => {
  const graph = importGraph();

  it('reads the source tree', () => {
    assert.ok(graph.size > 50, `found ${graph.size} files`);
  });

  it('keeps dependencies flowing one way: core imports none of api, worker, cli, operator', () => {
    const wrong = [...graph].flatMap(([file, targets]) =>
      file.startsWith(`core${path.sep}`) ? targets.filter((t) => !t.startsWith(`core${path.sep}`)).map((t) => `${file} -> ${t}`) : [],
    );
    assert.deepEqual(wrong, []);
  });

  it('has no circular imports', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      stack.push(file);
      for (const target of graph.get(file) ?? []) visit(target);
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file);
    assert.deepEqual(cycles, []);
  });

  it('names its exports: no `export *` in the source tree', () => {
    const offenders = [...graph.keys()].filter((file) => /^\s*export \*/m.test(readFileSync(path.join(ROOT, file), 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
