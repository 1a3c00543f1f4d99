import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../core/config/index.ts';
import { problemsOf } from '../support/validation.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/config');
const MINIMAL = path.join(FIXTURES, 'minimal');

/** A throwaway config dir: base.toml plus the given files (name -> TOML text). */
function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hg-config-'));
  writeFileSync(path.join(dir, 'base.toml'), files['base.toml'] ?? '');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}


describe('loadConfig overlay order', () => {
  it('applies base, auth/security/timeouts, environment, --config files, then environment variables', () => {
    const { config, sources } = loadConfig({ configDir: MINIMAL, env: {} });
    assert.equal(config.database.max_connections, 12); // auth.toml beats base.toml
    assert.equal(config.database.min_connections, 2); // development.toml
    assert.deepEqual(sources.map((s) => path.basename(s)), ['base.toml', 'auth.toml', 'development.toml']);

    const withExtra = loadConfig({ configDir: MINIMAL, env: {}, extraFiles: [path.join(FIXTURES, 'extra.toml')] });
    assert.equal(withExtra.config.database.max_connections, 20); // --config beats the environment file
    assert.equal(withExtra.sources.length, 4);

    const withEnv = loadConfig({ configDir: MINIMAL, env: { DATABASE_MAX_CONNECTIONS: '30' }, extraFiles: [path.join(FIXTURES, 'extra.toml')] });
    assert.equal(withEnv.config.database.max_connections, 30); // environment variables win
    assert.equal(withEnv.config.database.pool.max_connections, 30);
    assert.equal(withEnv.sources.at(-1), 'environment variables: DATABASE_MAX_CONNECTIONS');
  });

  it('deep-merges tables and replaces arrays', () => {
    const dir = configDir({
      'base.toml': '[api]\ncors_origins = ["a", "b"]\nbind_address = "127.0.0.1:9000"\n[api.auth]\njwt_expiration_hours = 5',
      'development.toml': '[api]\ncors_origins = ["c"]\n[api.auth]\nenabled = false',
    });
    const { config } = loadConfig({ configDir: dir, env: {} });
    assert.deepEqual(config.api.cors_origins, ['c']);
    assert.equal(config.api.bind_address, '127.0.0.1:9000');
    assert.equal(config.api.auth.jwt_expiration_hours, 5);
    assert.equal(config.api.auth.enabled, false);
  });

  it('uses ENVIRONMENT from env when no environment option is given', () => {
    // the postgres queue: on a broker production also needs a run-signing key, which MINIMAL has no file for
    const { config } = loadConfig({ configDir: MINIMAL, env: { ENVIRONMENT: 'production', DATABASE_URL: 'postgres://db/x', JWT_SECRET: 's'.repeat(32), MESSAGE_QUEUE_TYPE: 'postgres' } });
    assert.equal(config.environment, 'production');
    assert.equal(config.database.url, 'postgres://db/x');
  });

  it('refuses an unknown environment, listing the valid ones', () => {
    const [p] = problemsOf(() => loadConfig({ configDir: MINIMAL, environment: 'prod', env: {} }));
    assert.equal(p?.path, 'environment');
    assert.match(p?.message ?? '', /unknown environment "prod"; valid: development, production/);
  });

  it('refuses a missing --config file', () => {
    const [p] = problemsOf(() => loadConfig({ configDir: MINIMAL, env: {}, extraFiles: ['/nonexistent/x.toml'] }));
    assert.match(p?.message ?? '', /--config file \/nonexistent\/x.toml does not exist/);
  });

  it('reports TOML syntax errors with the file', () => {
    const dir = configDir({ 'development.toml': '[database\nurl = 1' });
    const [p] = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.match(p?.message ?? '', /development\.toml/);
  });

  it('ignores a file-level environment key with a warning', () => {
    const dir = configDir({ 'development.toml': 'environment = "production"' });
    const { config, warnings } = loadConfig({ configDir: dir, env: {} });
    assert.equal(config.environment, 'development');
    assert.ok(warnings.some((w) => w.includes('environment = "production"') && w.includes('is ignored')));
  });
});

describe('${VAR} substitution', () => {
  it('substitutes ${VAR} and ${VAR:-default} inside values, and coerces numbers and booleans', () => {
    const dir = configDir({
      'development.toml': [
        '[database]',
        'url = "postgresql://${DB_USER:-app}:${DB_PASS:-pw}@${DB_HOST}:5432/x"',
        'max_connections = "${DB_MAX:-20}"',
        'read_only = "${RO:-false}"',
        '[api]',
        'cors_origins = ["${ORIGIN:-http://a}", "literal $${NOT_A_VAR}"]',
      ].join('\n'),
    });
    const { config } = loadConfig({ configDir: dir, env: { DB_HOST: 'db', DB_PASS: '' } });
    assert.equal(config.database.url, 'postgresql://app:pw@db:5432/x'); // empty counts as unset for :-
    assert.equal(config.database.max_connections, 20);
    assert.equal(config.database.read_only, false);
    assert.deepEqual(config.api.cors_origins, ['http://a', 'literal ${NOT_A_VAR}']);
  });

  it('is applied to parsed strings, so quotes in a value cannot break the file', () => {
    const dir = configDir({ 'development.toml': '[observability.log_fields]\nnote = "${NOTE}"' });
    const { config } = loadConfig({ configDir: dir, env: { NOTE: 'say "hi" \\ ]' } });
    assert.equal(config.observability.log_fields.note, 'say "hi" \\ ]');
  });

  it('names the key, file and variable when an unset ${VAR} reaches the final config', () => {
    const problems = problemsOf(() => loadConfig({ configDir: MINIMAL, environment: 'production', env: { JWT_SECRET: 's'.repeat(32) } }));
    assert.deepEqual(problems, [{
      path: 'database.url',
      message: 'in ' + path.relative(process.cwd(), path.join(MINIMAL, 'production.toml')) + ': environment variable DATABASE_URL is not set (write ${DATABASE_URL:-default} for an optional value)',
    }]);
  });

  it('does not complain about an unset ${VAR} that a later layer overrides', () => {
    const dir = configDir({ 'base.toml': '[database]\nurl = "${NOPE}"', 'development.toml': '[database]\nurl = "postgres://h/d"' });
    assert.equal(loadConfig({ configDir: dir, env: {} }).config.database.url, 'postgres://h/d');
  });

  it('explains a value that is not numeric after substitution', () => {
    const [p] = problemsOf(() => loadConfig({ configDir: MINIMAL, env: { DB_MAX: 'lots' }, extraFiles: [path.join(FIXTURES, 'extra.toml')] }));
    assert.equal(p?.path, 'database.max_connections');
    assert.match(p?.message ?? '', /^in .*extra\.toml: expected a positive integer, got "lots"$/);
  });

  it('refuses a malformed reference', () => {
    const dir = configDir({ 'development.toml': '[worker]\npool = "${bad name}"' });
    const [p] = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.equal(p?.path, 'worker.pool');
    assert.match(p?.message ?? '', /malformed variable reference/);
  });
});

describe('unknown keys', () => {
  it('refuses a typo with the file, the dotted key and the nearest valid key', () => {
    const problems = problemsOf(() => loadConfig({ configDir: MINIMAL, env: {}, extraFiles: [path.join(FIXTURES, 'typo.toml')] }));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, 'database.max_conections');
    assert.match(problems[0]?.message ?? '', /^in .*typo\.toml: unknown key; did you mean database\.max_connections\?$/);
  });

  it('lists the valid keys when nothing is close, at any depth', () => {
    const dir = configDir({ 'development.toml': '[message_queue.redis]\nzzzzzzzz = 1\n[frobnicate]\nx = 1' });
    const problems = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.deepEqual(problems.map((p) => p.path), ['message_queue.redis.zzzzzzzz', 'frobnicate']);
    assert.match(problems[0]?.message ?? '', /valid keys in \[message_queue\.redis\]: host, port/);
  });

  it('accepts any key in the free-form tables', () => {
    const dir = configDir({
      'development.toml': [
        '[database.read_replicas]', 'replica1 = "postgresql://db-replica1:5432/scheduler"',
        '[api.auth.api_keys]', '"admin-key" = ["Admin"]',
        '[observability.log_fields]', 'team = "core"',
      ].join('\n'),
    });
    const { config } = loadConfig({ configDir: dir, env: {} });
    assert.deepEqual(config.api.auth.api_keys, { 'admin-key': ['Admin'] });
    assert.equal(config.observability.log_fields.team, 'core');
  });

  it('refuses an unknown permission', () => {
    const dir = configDir({ 'development.toml': '[api.auth.api_keys]\nk = ["TaskRaed"]' });
    const [p] = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.equal(p?.path, 'api.auth.api_keys.k[0]');
    assert.match(p?.message ?? '', /development\.toml: expected one of TaskRead, .*got "TaskRaed"/);
  });
});

describe('top-level aliases', () => {
  it('feeds database_url and worker_id into their tables', () => {
    const dir = configDir({
      'development.toml': 'database_url = "${DATABASE_URL:-postgresql://localhost:5432/scheduler}"\nworker_id = "${WORKER_ID:-default-worker-001}"',
    });
    const { config } = loadConfig({ configDir: dir, env: {} });
    assert.equal(config.database.url, 'postgresql://localhost:5432/scheduler');
    assert.equal(config.worker.worker_id, 'default-worker-001');
    assert.equal(config.embedded, false);
    assert.equal('database_url' in config, false);
  });

  it('refuses the alias and the table key in one file', () => {
    const dir = configDir({ 'development.toml': 'database_url = "postgres://a/b"\n[database]\nurl = "postgres://c/d"' });
    const [p] = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.equal(p?.path, 'database_url');
  });

  it('defaults worker_id to hostname-pid', () => {
    const { config } = loadConfig({ configDir: MINIMAL, env: {} });
    assert.match(config.worker.worker_id, new RegExp(`-${process.pid}$`));
  });
});
