import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { ENV_OVERRIDES, loadConfig } from '../../core/config/index.ts';
import { REPO_ROOT } from '../support/processes.ts';
import { validOrClearError } from './bounded.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 150);
const CONFIG_DIR = path.join(REPO_ROOT, 'config');
const dir = mkdtempSync(path.join(tmpdir(), 'hg-config-property-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** every leaf key of the effective default configuration, dotted: database.pool.max_connections, ... */
function leafKeys(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}
const KEYS = leafKeys(loadConfig({ configDir: CONFIG_DIR, env: {} }).config).filter(Boolean);

/** values of every TOML type, right and wrong for the key they land on */
const tomlValue = fc.oneof(
  fc.integer({ min: -5, max: 100_000 }),
  fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, 1.5, -0.25, Infinity, NaN),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', '${UNSET_VAR}', '${HOME:-/tmp}', '${', '${A:-${B}}', 'postgres://u:p@h/db', 'redis://x:99999', 'amqp://', '127.0.0.1:8080', '[::1]:0', 'debug', 'rabbitmq'),
  fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 3 }),
  fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), { maxKeys: 2 }),
);

/** a tree setting a few real keys (and sometimes a misspelt one) to random values */
const tree = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.constantFrom(...KEYS).map((k) => `${k}x`), fc.constantFrom('nope', 'database.nope.deeper')), tomlValue), { minLength: 1, maxLength: 6 })
  .map((pairs) => {
    const root: Record<string, unknown> = {};
    for (const [key, value] of pairs) {
      const parts = key.split('.');
      let table = root;
      for (const part of parts.slice(0, -1)) {
        if (typeof table[part] !== 'object' || table[part] === null || Array.isArray(table[part]) || table[part] instanceof Date) table[part] = {};
        table = table[part] as Record<string, unknown>;
      }
      table[parts.at(-1) as string] = value;
    }
    return { root, keys: pairs.map(([k]) => k) };
  });

function tomlOf(root: Record<string, unknown>): string | undefined {
  try {
    return stringify(root);
  } catch {
    return undefined; // NaN / Infinity in a spot smol-toml refuses; the raw-text property covers bad syntax
  }
}

let n = 0;
function load(text: string, env: Record<string, string> = {}) {
  const file = path.join(dir, `case-${n++}.toml`);
  writeFileSync(file, text);
  try {
    return validOrClearError(`loadConfig(${JSON.stringify(text.slice(0, 200))}, env ${JSON.stringify(env)})`, () => loadConfig({ configDir: CONFIG_DIR, env, extraFiles: [file] }));
  } finally {
    rmSync(file, { force: true });
  }
}

describe('the config loader takes any TOML file and environment (fast-check)', () => {
  it('random text: a config, or a ValidationError (a syntax error names the file)', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: fc.constantFrom('[', ']', '=', '"', "'", '\n', ' ', 'a', '.', '1', '#', '{', '}', ',', 'database', 'worker', '\\', 'true'), maxLength: 150 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
    );
    fc.assert(
      fc.property(text, (toml) => {
        const outcome = load(toml);
        if (!outcome.ok) assert.ok(outcome.error.problems.every((p) => p.path !== '' || /case-\d+\.toml/.test(p.message)), JSON.stringify(outcome.error.problems));
      }),
      { numRuns: RUNS },
    );
  });

  it('well-formed TOML with wrong types, ranges and keys: every problem names its key', () => {
    fc.assert(
      fc.property(tree, ({ root, keys }) => {
        const toml = tomlOf(root);
        if (toml === undefined) return;
        const outcome = load(toml);
        if (outcome.ok) return;
        for (const problem of outcome.error.problems) {
          assert.notEqual(problem.path, '', `a problem without a key: ${problem.message} (file ${toml})`);
          // the named key is one we set, a table on its way, or a key a rule ties to one we set
          // (every problem is reported now, so a rule naming one of our keys in its message may speak too)
          const ours = keys.some((k) => k.startsWith(problem.path) || problem.path.startsWith(k.split('.')[0] as string) || problem.message.includes(k));
          assert.ok(ours, `problem at ${problem.path} (${problem.message}) for keys ${JSON.stringify(keys)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('random values in the environment overrides: a config, or a ValidationError naming the variable', () => {
    const names = ENV_OVERRIDES.map((o) => o.name).filter((name) => name !== 'ENVIRONMENT');
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', '-1', '0', '1e9', 'NaN', '{}', '[]', '{"k": 1}', '{"k": ["Nope"]}', 'not json', 'TRACE', 'foo=bar,baz', 'rabbitmq', 'kafka'));
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), value, { minKeys: 1, maxKeys: 4 }), (env) => {
        const outcome = load('', env);
        if (outcome.ok) return;
        for (const problem of outcome.error.problems) {
          const mentioned = Object.keys(env).some((name) => problem.message.includes(name) || ENV_OVERRIDES.find((o) => o.name === name)?.keys.some((k) => problem.path.startsWith(k) || k.startsWith(problem.path)));
          assert.ok(mentioned, `problem ${problem.path}: ${problem.message} does not point at any of ${JSON.stringify(env)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('an unknown ENVIRONMENT is a ValidationError on environment', () => {
    const outcome = validOrClearError('loadConfig', () => loadConfig({ configDir: CONFIG_DIR, env: { ENVIRONMENT: '../../etc' } }));
    assert.ok(!outcome.ok);
    assert.equal(outcome.error.problems[0]?.path, 'environment');
  });
});
