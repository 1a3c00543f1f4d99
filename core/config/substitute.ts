import type { FieldProblem } from '../model/errors.ts';
import { isTable, type Tree } from './tree.ts';

/**
 * `${VAR}` and `${VAR:-default}` inside string values, applied to parsed TOML strings (never the
 * raw text, so a value containing quotes cannot break the file). `${VAR:-default}` uses the default
 * when VAR is unset or empty; `$${` is a literal `${`.
 *
 * A `${VAR}` whose variable is unset becomes an `Unresolved` marker instead of an error: only a
 * marker that survives into the final merged config is reported. This is what lets production.toml
 * say `url = "${DATABASE_URL}"` without breaking development, which never reads that file.
 */
export class Unresolved {
  readonly variable: string;
  readonly source: string;
  constructor(variable: string, source: string) {
    this.variable = variable;
    this.source = source;
  }
}

const PATTERN = /\$(\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$\{[^}]*\}?/g;

type Env = Readonly<Record<string, string | undefined>>;

function substituteString(s: string, env: Env, source: string, path: string, problems: FieldProblem[]): string | Unresolved {
  let missing: string | undefined;
  const out = s.replace(PATTERN, (match, escaped: string | undefined, name: string | undefined, hasDefault: string | undefined, def: string | undefined) => {
    if (escaped) return escaped;
    if (!name) {
      problems.push({ path, message: `in ${source}: malformed variable reference ${JSON.stringify(match)}; write \${NAME} or \${NAME:-default}` });
      return match;
    }
    const value = env[name];
    if (hasDefault !== undefined) return value === undefined || value === '' ? (def ?? '') : value;
    if (value === undefined) missing ??= name;
    return value ?? '';
  });
  return missing === undefined ? out : new Unresolved(missing, source);
}

function walk(value: unknown, env: Env, source: string, path: string, problems: FieldProblem[]): unknown {
  if (typeof value === 'string') return value.includes('${') ? substituteString(value, env, source, path, problems) : value;
  if (Array.isArray(value)) return value.map((v, i) => walk(v, env, source, `${path}[${i}]`, problems));
  if (isTable(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, env, source, path ? `${path}.${k}` : k, problems)]));
  }
  return value;
}

/** Substitutes variables in every string of a parsed file; malformed references are reported in `problems`. */
export function substitute(tree: Tree, env: Env, source: string, problems: FieldProblem[]): Tree {
  return walk(tree, env, source, '', problems) as Tree;
}
