import type { z } from 'zod';
import { findUnsafeText, formatPath, unsafeTextReason, ValidationError, type FieldProblem } from '../core/model/index.ts';

/**
 * Path and query values reach SQL as text, where NUL and lone surrogates make Postgres fail (a 500):
 * refused first, naming the parameter, for every route whether or not it has a schema for them.
 */
export function assertSafeParameters(value: unknown, where: 'path' | 'query'): void {
  if (typeof value !== 'object' || value === null) return;
  const problems: FieldProblem[] = [];
  for (const [name, raw] of Object.entries(value)) {
    for (const text of [raw].flat()) {
      const reason = typeof text === 'string' ? unsafeTextReason(text) : undefined;
      if (reason) {
        problems.push({ path: name, message: reason });
        break;
      }
    }
  }
  if (problems.length > 0) throw new ValidationError(where, problems);
}

/**
 * Parses a request part (path, query, body) with its route's zod schema. Unlike problemsFromZod, an
 * unknown parameter is reported under its own name ("fitler: is not a parameter of this route"),
 * so every problem names the field a client must fix.
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, where: 'path' | 'query' | 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems: FieldProblem[] = result.error.issues.flatMap((issue) => {
    const base = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: base ? `${base}.${key}` : key, message: `is not a ${where === 'body' ? 'field' : 'parameter'} of this route` }));
    }
    return [{ path: base || (where === 'body' ? '(body)' : ''), message: issue.message }];
  });
  throw new ValidationError(where, problems);
}

/** The same for a JSON body, at any depth (jsonb refuses NUL as well): the first bad string, by its path. */
export function assertSafeBody(body: unknown): void {
  const found = findUnsafeText(body);
  if (found) throw new ValidationError('body', [{ path: formatPath(found.path) || '(body)', message: found.reason }]);
}
