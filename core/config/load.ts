import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ValidationError, type FieldProblem } from '../model/errors.ts';
import { envLayers, envSource } from './env.ts';
import { findUnknownKeys } from './keys.ts';
import { NO_EFFECT_KEYS } from './no-effect.ts';
import { defaultConfigDir, fileLabel } from './paths.ts';
import { applyEmbedded, checkRules, type ConfigMode } from './rules.ts';
import { ConfigSchema, type Config } from './schema.ts';
import { substitute, Unresolved } from './substitute.ts';
import { deletePath, getPath, isTable, leaves, mergeInto, sourceOf, sourceUnder, type Provenance, type Tree } from './tree.ts';

export interface LoadConfigOptions {
  /** Folder holding base.toml and <environment>.toml. Default: `config/` at the package root. */
  configDir?: string;
  /** Default: env.ENVIRONMENT, else "development". */
  environment?: string;
  /** `--config FILE` arguments, applied after the environment file, in order. */
  extraFiles?: readonly string[];
  /** Variables for `${VAR}` substitution and overrides. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The process's mode, when it is known: rules that concern one part (API auth, the embedded database)
   * apply only to the modes that run it. Absent (`config validate`): every rule applies.
   */
  mode?: ConfigMode;
}

export interface LoadedConfig {
  config: Config;
  /** What was read, in order: file labels, then "environment variables: A, B". */
  sources: string[];
  /** Things the caller should log at startup (no-effect keys, auth off in development...). */
  warnings: string[];
}

/** Merged in after base.toml, before the environment file; each may be absent. */
export const OVERLAY_FILES = ['auth.toml', 'security.toml', 'timeouts.toml'] as const;
const NOT_ENVIRONMENTS = new Set(['base.toml', ...OVERLAY_FILES]);

/** Top-level aliases used by the seed guide's `${VAR}` examples, moved into their table in the file that sets them. */
const ALIASES: Record<string, [string, string]> = { database_url: ['database', 'url'], worker_id: ['worker', 'worker_id'] };

const fail = (problems: FieldProblem[]): never => {
  throw new ValidationError('invalid configuration', problems);
};

export function listEnvironments(configDir: string): string[] {
  if (!existsSync(configDir)) fail([{ path: '', message: `config directory ${configDir} does not exist` }]);
  return readdirSync(configDir)
    .filter((f) => f.endsWith('.toml') && !NOT_ENVIRONMENTS.has(f))
    .map((f) => f.slice(0, -'.toml'.length))
    .sort();
}

function applyAliases(tree: Tree, label: string, problems: FieldProblem[]): void {
  for (const [alias, [table, key]] of Object.entries(ALIASES)) {
    if (!(alias in tree)) continue;
    const section = tree[table];
    if (isTable(section) && key in section) {
      problems.push({ path: alias, message: `in ${label}: set either ${alias} or ${table}.${key}, not both` });
    } else {
      tree[table] = { ...(isTable(section) ? section : {}), [key]: tree[alias] };
    }
    delete tree[alias];
  }
}

interface FileContext {
  env: Readonly<Record<string, string | undefined>>;
  environment: string;
  problems: FieldProblem[];
  warnings: string[];
}

function readLayer(file: string, ctx: FileContext): Tree | undefined {
  const label = fileLabel(file);
  let tree: Tree;
  try {
    tree = parseToml(readFileSync(file, 'utf8')) as Tree;
  } catch (e) {
    ctx.problems.push({ path: '', message: `in ${label}: ${(e as Error).message}` });
    return undefined;
  }
  for (const u of findUnknownKeys(tree, ConfigSchema)) {
    ctx.problems.push({ path: u.path, message: `in ${label}: ${u.message}` });
    // reported once here; left in, the strict schema would report it again and hide nothing else
    dropKey(tree, u.path);
  }
  if ('environment' in tree) {
    if (tree.environment !== ctx.environment) {
      ctx.warnings.push(`environment = ${JSON.stringify(tree.environment)} in ${label} is ignored: the environment is chosen by ENVIRONMENT (now "${ctx.environment}") before files are read`);
    }
    delete tree.environment;
  }
  applyAliases(tree, label, ctx.problems);
  return substitute(tree, ctx.env, label, ctx.problems);
}

function unresolvedProblems(merged: Tree): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [key, value] of leaves(merged)) {
    if (value instanceof Unresolved) {
      problems.push({ path: key, message: `in ${value.source}: environment variable ${value.variable} is not set (write \${${value.variable}:-default} for an optional value)` });
    }
  }
  return problems;
}

function noEffectWarnings(merged: Tree, provenance: Provenance): string[] {
  const out: string[] = [];
  for (const { key, reason, when } of NO_EFFECT_KEYS) {
    const value = getPath(merged, key);
    if (value === undefined || (when && !when(value))) continue;
    out.push(`${key} (${sourceUnder(provenance, key) ?? 'the defaults'}) has no effect: ${reason}`);
  }
  return out;
}

const DUPLICATES: [string, string][] = [
  ['api.security.cors_enabled', 'api.cors_enabled'],
  ['api.security.cors_origins', 'api.cors_origins'],
  ['api.security.rate_limiting_enabled', 'api.rate_limiting.enabled'],
  ['api.security.max_requests_per_minute', 'api.rate_limiting.max_requests_per_minute'],
  ['api.security.burst_size', 'api.rate_limiting.burst_size'],
];

function duplicateWarnings(merged: Tree, provenance: Provenance): string[] {
  return DUPLICATES.filter(([a, b]) => {
    const [va, vb] = [getPath(merged, a), getPath(merged, b)];
    return va !== undefined && vb !== undefined && JSON.stringify(va) !== JSON.stringify(vb);
  }).map(([a, b]) => `${a} (${provenance.get(a)}) overrides ${b} (${provenance.get(b)})`);
}

/**
 * The schema's verdict: the config, and every problem. A rejected key is taken out and the rest parsed
 * again, so that the rules that span keys can still run and report their own problems in the same answer.
 */
function validate(merged: Tree, provenance: Provenance): { config?: Config; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const tree = structuredClone(merged);
  for (let pass = 0; pass < 5; pass++) {
    const result = ConfigSchema.safeParse(tree);
    if (result.success) return { config: result.data, problems };
    for (const issue of result.error.issues) {
      const keys = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)));
      const dotted = keys.reduce((acc, k) => (k.startsWith('[') || !acc ? acc + k : `${acc}.${k}`), '');
      if (problems.some((p) => p.path === dotted)) continue;
      problems.push({ path: dotted, message: `in ${sourceOf(provenance, issue.path) ?? 'the defaults'}: ${issue.message}` });
      dropKey(tree, issue.path.filter((p) => typeof p === 'string').join('.'));
    }
  }
  return { problems };
}

/** Removes a key already reported, at any depth (a top-level one too). */
function dropKey(tree: Tree, dotted: string): void {
  if (dotted.includes('.')) deletePath(tree, dotted, new Map());
  else delete tree[dotted];
}

/** A leaf whose ${VAR} was not set is reported, then left to its default so the other checks still run. */
function dropUnresolved(merged: Tree, problems: FieldProblem[]): void {
  for (const problem of problems) dropKey(merged, problem.path);
}

/**
 * Loads the configuration: base.toml, then auth.toml, security.toml, timeouts.toml (each
 * optional), then <environment>.toml, then each extra file, then environment variables (see
 * ENV_OVERRIDES). Throws a ValidationError naming every bad key and the file it came from.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const configDir = path.resolve(options.configDir ?? defaultConfigDir());
  const environment = options.environment || env.ENVIRONMENT || 'development';
  const valid = listEnvironments(configDir);
  if (!valid.includes(environment)) {
    fail([{ path: 'environment', message: `unknown environment ${JSON.stringify(environment)}; valid: ${valid.join(', ')} (the .toml files in ${fileLabel(configDir)})` }]);
  }
  const base = path.join(configDir, 'base.toml');
  if (!existsSync(base)) fail([{ path: '', message: `${fileLabel(base)} is missing` }]);
  const files = [
    base,
    ...OVERLAY_FILES.map((f) => path.join(configDir, f)).filter((f) => existsSync(f)),
    path.join(configDir, `${environment}.toml`),
  ];
  const problems: FieldProblem[] = [];
  for (const f of options.extraFiles ?? []) {
    if (existsSync(path.resolve(f))) files.push(path.resolve(f));
    else problems.push({ path: '', message: `--config file ${f} does not exist` });
  }

  const ctx: FileContext = { env, environment, problems, warnings: [] };
  const merged: Tree = {};
  const provenance: Provenance = new Map();
  for (const file of files) {
    const tree = readLayer(file, ctx);
    if (tree) mergeInto(merged, tree, fileLabel(file), provenance);
  }
  const fromEnv = envLayers(env);
  problems.push(...fromEnv.problems);
  for (const { name, tree, replace } of fromEnv.layers) {
    for (const key of replace) deletePath(merged, key, provenance);
    mergeInto(merged, tree, envSource(name), provenance);
  }
  // every problem in one answer: files, variables, the schema and the rules that span keys
  merged.environment = environment;
  const unresolved = unresolvedProblems(merged);
  problems.push(...unresolved);
  dropUnresolved(merged, unresolved);

  const validated = validate(merged, provenance);
  problems.push(...validated.problems);
  const ruleCtx = { provenance, environmentFile: fileLabel(path.join(configDir, `${environment}.toml`)), ...(options.mode ? { mode: options.mode } : {}) };
  const rules = validated.config ? checkRules(validated.config, ruleCtx) : { problems: [], warnings: [] };
  // a key already reported (say, an unset variable) is not reported again by a rule about its default
  problems.push(...rules.problems.filter((rule) => !problems.some((p) => p.path === rule.path)));
  if (problems.length > 0 || !validated.config) fail(problems);
  const config = validated.config as Config;

  const sources = files.map((f) => fileLabel(f));
  if (fromEnv.layers.length > 0) sources.push(`environment variables: ${fromEnv.layers.map((l) => l.name).join(', ')}`);
  const warnings = [
    ...ctx.warnings,
    ...fromEnv.warnings,
    ...noEffectWarnings(merged, provenance),
    ...duplicateWarnings(merged, provenance),
    ...rules.warnings,
    ...applyEmbedded(config, ruleCtx),
  ];
  return { config, sources, warnings };
}
