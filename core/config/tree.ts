/**
 * Plain TOML-like trees and their provenance: which source (file or environment variable) last
 * set each dotted key. Tables merge key by key; arrays and scalars replace.
 */

export type Tree = Record<string, unknown>;

/** Where each dotted key (and table) of the merged tree came from, e.g. "config/production.toml". */
export type Provenance = Map<string, string>;

/** A TOML table: a plain object (smol-toml makes them with a null prototype). Dates and markers are leaves. */
export function isTable(v: unknown): v is Tree {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const join = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

// Only leaves (scalars, arrays, markers) are recorded: a table's source would be misleading for
// the keys inside it that came from elsewhere or from the defaults.
function record(value: unknown, path: string, source: string, provenance: Provenance): void {
  if (isTable(value)) for (const [k, v] of Object.entries(value)) record(v, join(path, k), source, provenance);
  else provenance.set(path, source);
}

function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (isTable(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
  return v;
}

/** Merges `source` into `target` in place, recording `label` as the source of every key it sets. */
export function mergeInto(target: Tree, source: Tree, label: string, provenance: Provenance, prefix = ''): void {
  for (const [key, value] of Object.entries(source)) {
    const path = join(prefix, key);
    const existing = target[key];
    if (isTable(existing) && isTable(value)) {
      mergeInto(existing, value, label, provenance, path);
      continue;
    }
    for (const p of [...provenance.keys()]) if (p.startsWith(`${path}.`)) provenance.delete(p);
    target[key] = clone(value);
    record(value, path, label, provenance);
  }
}

export function getPath(tree: unknown, dotted: string): unknown {
  let cur: unknown = tree;
  for (const part of dotted.split('.')) {
    if (!isTable(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Sets a dotted key, creating tables on the way. */
export function setPath(tree: Tree, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  const last = parts.pop() as string;
  let cur = tree;
  for (const part of parts) {
    const next = cur[part];
    if (isTable(next)) cur = next;
    else cur = cur[part] = {};
  }
  cur[last] = value;
}

/** The source of the value at `path` (zod issue path segments), or of its nearest recorded parent. */
export function sourceOf(provenance: Provenance, path: readonly PropertyKey[]): string | undefined {
  const keys = path.filter((p): p is string => typeof p === 'string');
  for (let n = keys.length; n > 0; n--) {
    const s = provenance.get(keys.slice(0, n).join('.'));
    if (s) return s;
  }
  return undefined;
}

/** Removes a dotted key and the provenance of everything under it (for layers that replace a whole table). */
export function deletePath(tree: Tree, dotted: string, provenance: Provenance): void {
  const parts = dotted.split('.');
  const last = parts.pop() as string;
  const parent = getPath(tree, parts.join('.'));
  if (isTable(parent)) delete parent[last];
  for (const p of [...provenance.keys()]) if (p === dotted || p.startsWith(`${dotted}.`)) provenance.delete(p);
}

/** The source of a key or, for a table, of the first key set inside it. */
export function sourceUnder(provenance: Provenance, dotted: string): string | undefined {
  for (const [p, s] of provenance) if (p === dotted || p.startsWith(`${dotted}.`)) return s;
  return undefined;
}

/** Every leaf of a tree with its dotted path (array elements as `key[i]`). */
export function* leaves(value: unknown, path = ''): Generator<[string, unknown]> {
  if (isTable(value)) {
    for (const [k, v] of Object.entries(value)) yield* leaves(v, join(path, k));
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* leaves(v, `${path}[${i}]`);
  } else {
    yield [path, value];
  }
}
