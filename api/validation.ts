import type { z } from 'zod';
import { formatPath, ValidationError, type FieldProblem } from '../core/model/index.ts';

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
