import type { z } from 'zod';
import { isTable } from './tree.ts';

/**
 * Reading the schema's structure: which keys a table accepts, so that a typo in any file is
 * refused with the nearest valid key, and the reference file can be generated.
 */

export interface TableShape {
  /** Known keys at this level. */
  keys: Record<string, z.ZodType>;
  /** True when any other key is also accepted (free-form tables). */
  open: boolean;
  /** Schema for values under free-form keys (records and catchalls), if any. */
  anyValue?: z.ZodType;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  valueType?: z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** Peels default/prefault/optional/nullable wrappers and pipes (transform, preprocess) off a schema. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = defOf(s);
    if (d.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in && d.out) s = defOf(d.in).type === 'transform' ? d.out : d.in;
    else return s;
  }
}

/** The default of a key's schema, if it has one (found under optional/pipe wrappers). */
export function defaultOf(schema: z.ZodType): { has: boolean; value?: unknown } {
  let s = schema;
  for (;;) {
    const d = defOf(s) as Def & { defaultValue?: unknown };
    if (d.type === 'default') return { has: true, value: d.defaultValue };
    if (d.innerType && ['prefault', 'optional', 'nullable', 'readonly', 'catch'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in && d.out) s = defOf(d.in).type === 'transform' ? d.out : d.in;
    else return { has: false };
  }
}

/** The table a schema describes, or undefined when it is a leaf (scalar or array). */
export function tableShape(schema: z.ZodType): TableShape | undefined {
  const s = unwrap(schema);
  const d = defOf(s);
  if (d.type === 'object' && d.shape) {
    const open = d.catchall !== undefined && defOf(d.catchall).type !== 'never';
    return { keys: d.shape, open, ...(open && d.catchall ? { anyValue: d.catchall } : {}) };
  }
  if (d.type === 'record') return { keys: {}, open: true, ...(d.valueType ? { anyValue: d.valueType } : {}) };
  return undefined;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The valid key closest to `key`, when it is close enough to be a plausible typo. */
export function nearestKey(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

export interface UnknownKey {
  path: string;
  message: string;
}


/** Every key in `tree` that the schema does not accept, with a "did you mean" when one is close. */
export function findUnknownKeys(tree: Record<string, unknown>, schema: z.ZodType, prefix = ''): UnknownKey[] {
  const shape = tableShape(schema);
  if (!shape) return [];
  const out: UnknownKey[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const known = shape.keys[key];
    const child = known ?? (shape.open ? shape.anyValue : undefined);
    if (!child) {
      const near = nearestKey(key, Object.keys(shape.keys));
      const hint = near
        ? `did you mean ${prefix ? `${prefix}.${near}` : near}?`
        : `valid keys${prefix ? ` in [${prefix}]` : ' at the top level'}: ${Object.keys(shape.keys).join(', ')}`;
      out.push({ path, message: `unknown key; ${hint}` });
    } else if (isTable(value)) {
      out.push(...findUnknownKeys(value, child, path));
    }
  }
  return out;
}
