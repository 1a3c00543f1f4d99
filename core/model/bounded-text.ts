import { z } from 'zod';

/**
 * Strings and free-form values a task spec may hold, bounded: every string is well-formed UTF-16
 * (no lone surrogates, which Postgres and JSON encoders refuse) and NUL-free (C strings end there: an
 * argument or environment entry would be cut, and Postgres text refuses it), with a length limit; free
 * JSON (params) has a depth and size limit. Each refusal is a 400 naming the field, never a 500 deeper in.
 */

// a high surrogate not followed by a low one, or a low one not preceded by a high one (code units, no `u` flag)
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is unsafe to store or pass to a process; undefined when it is fine. */
export function unsafeTextReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode (no lone surrogate)';
  return undefined;
}

/** A string of at most `max` characters, NUL-free and well-formed. */
export function boundedText(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .superRefine((text, ctx) => {
      const reason = unsafeTextReason(text);
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    });
}

/** A string map with at most `entries` entries, each key and value bounded like boundedText. */
export function boundedRecord(entries: number, keyMax: number, valueMax: number) {
  return z
    .record(boundedText(keyMax), boundedText(valueMax))
    .refine((map) => Object.keys(map).length <= entries, `must have at most ${entries} entries`);
}

export const PARAMS_MAX_DEPTH = 32;
export const PARAMS_MAX_BYTES = 256 * 1024;

/**
 * Checks free JSON without recursion (a 5,000-deep value must not overflow the stack here either):
 * depth, well-formed NUL-free strings and keys, and serialised size. Reports the path of the first problem.
 */
export function checkFreeJson(value: unknown, ctx: z.RefinementCtx): void {
  const stack: Array<{ node: unknown; path: Array<string | number>; depth: number }> = [{ node: value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop() as (typeof stack)[number];
    if (typeof node === 'string') {
      const reason = unsafeTextReason(node);
      if (reason) return ctx.addIssue({ code: 'custom', path, message: reason });
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= PARAMS_MAX_DEPTH) return ctx.addIssue({ code: 'custom', path, message: `must be nested at most ${PARAMS_MAX_DEPTH} levels deep` });
    const entries: Array<[string | number, unknown]> = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, child] of entries) {
      if (typeof key === 'string') {
        const reason = unsafeTextReason(key);
        if (reason) return ctx.addIssue({ code: 'custom', path: [...path, key], message: `key ${reason}` });
      }
      stack.push({ node: child, path: [...path, key], depth: depth + 1 });
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes > PARAMS_MAX_BYTES) ctx.addIssue({ code: 'custom', message: `must be at most ${PARAMS_MAX_BYTES} bytes as JSON (is ${bytes})` });
}

/**
 * The first NUL or lone surrogate anywhere in a JSON value (strings and keys), with its path; walked
 * without recursion so any depth is safe. For bodies whose schema does not check every string itself.
 */
export function findUnsafeText(value: unknown): { path: Array<string | number>; reason: string } | undefined {
  const stack: Array<{ node: unknown; path: Array<string | number> }> = [{ node: value, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as (typeof stack)[number];
    if (typeof node === 'string') {
      const reason = unsafeTextReason(node);
      if (reason) return { path, reason };
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    for (const [key, child] of Array.isArray(node) ? node.map((v, i) => [i, v] as const) : Object.entries(node)) {
      const reason = typeof key === 'string' ? unsafeTextReason(key) : undefined;
      if (reason) return { path: [...path, key], reason: `key ${reason}` };
      stack.push({ node: child, path: [...path, key] });
    }
  }
  return undefined;
}
