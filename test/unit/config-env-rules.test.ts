import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { ValidationError } from '../../core/model/errors.ts';
import {
  ConfigSchema, ENV_OVERRIDES, NO_EFFECT_KEYS, SECRET_ENV_NAMES, defaultConfigDir, isSecretEnvName, loadConfig,
  parseBindAddress, redactConfig, renderBaseToml,
} from '../../core/config/index.ts';
import { problemsOf } from '../support/validation.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const SHIPPED = path.join(REPO, 'config');
const SECRET = 'a-very-long-jwt-secret-of-at-least-32-chars';

function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hg-config-'));
  writeFileSync(path.join(dir, 'base.toml'), files['base.toml'] ?? '');
  writeFileSync(path.join(dir, 'development.toml'), files['development.toml'] ?? '');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}
const EMPTY = configDir({});


describe('environment overrides', () => {
  const cases: [string, string, (c: ReturnType<typeof loadConfig>['config']) => unknown, unknown][] = [
    ['DATABASE_URL', 'postgresql://u:p@db:5432/x', (c) => c.database.url, 'postgresql://u:p@db:5432/x'],
    ['DATABASE_MAX_CONNECTIONS', '42', (c) => [c.database.max_connections, c.database.pool.max_connections], [42, 42]],
    ['MESSAGE_QUEUE_URL', 'redis://cache:6379', (c) => c.message_queue.url, 'redis://cache:6379'],
    ['MESSAGE_QUEUE_TYPE', 'rabbitmq', (c) => c.message_queue.type, 'postgres'], // embedded forces postgres; see below
    ['MESSAGE_QUEUE_NAMESPACE', 'install-b', (c) => c.message_queue.namespace, 'install-b'],
    ['REDIS_HOST', 'redis.internal', (c) => c.message_queue.redis.host, 'redis.internal'],
    ['REDIS_PORT', '6380', (c) => c.message_queue.redis.port, 6380],
    ['REDIS_PASSWORD', 'hunter2', (c) => c.message_queue.redis.password, 'hunter2'],
    ['LOG_LEVEL', 'WARN', (c) => c.observability.log_level, 'warn'],
    ['RUST_LOG', 'scheduler=debug,hyper=warn', (c) => c.observability.log_level, 'debug'],
    ['LOG_FORMAT', 'pretty', (c) => c.observability.log_format, 'pretty'],
    ['JWT_SECRET', SECRET, (c) => c.api.auth.jwt_secret, SECRET],
    ['API_KEYS', '{"key1": ["Admin"], "key2": ["TaskRead", "TaskWrite"]}', (c) => c.api.auth.api_keys, { key1: ['Admin'], key2: ['TaskRead', 'TaskWrite'] }],
    ['API_BIND_ADDRESS', '0.0.0.0:9090', (c) => c.api.bind_address, '0.0.0.0:9090'],
    ['WORKER_ID', 'worker-007', (c) => c.worker.worker_id, 'worker-007'],
    ['WORKER_POOL', 'gpu', (c) => c.worker.pool, 'gpu'],
    ['WORKER_MAX_CONCURRENT_TASKS', '12', (c) => c.worker.max_concurrent_tasks, 12],
    ['WORKER_TASK_ISOLATION', 'none', (c) => c.worker.task_isolation, 'none'],
    ['WORKER_SUPPORTED_TASK_TYPES', ' shell, http ,', (c) => c.worker.supported_task_types, ['shell', 'http']],
    ['METRICS_BIND_ADDRESS', '0.0.0.0:9100', (c) => c.observability.metrics_bind_address, '0.0.0.0:9100'],
    ['ENVIRONMENT', 'development', (c) => c.environment, 'development'],
  ];

  it('has a test case for every documented variable', () => {
    assert.deepEqual(cases.map((c) => c[0]).sort(), ENV_OVERRIDES.map((o) => o.name).sort());
  });

  for (const [name, value, read, expected] of cases) {
    it(`${name} overrides its key`, () => {
      const { config, sources } = loadConfig({ configDir: EMPTY, env: { [name]: value } });
      assert.deepEqual(read(config), expected);
      if (name !== 'ENVIRONMENT') assert.equal(sources.at(-1), `environment variables: ${name}`);
    });
  }

  it('MESSAGE_QUEUE_TYPE applies when a database is configured', () => {
    const env = { MESSAGE_QUEUE_TYPE: 'rabbitmq', MESSAGE_QUEUE_URL: 'amqp://mq', DATABASE_URL: 'postgres://db/x' };
    assert.equal(loadConfig({ configDir: EMPTY, env }).config.message_queue.type, 'rabbitmq');
  });

  it('RUST_LOG warns that LOG_LEVEL is preferred, and loses to it', () => {
    assert.ok(loadConfig({ configDir: EMPTY, env: { RUST_LOG: 'info' } }).warnings.some((w) => /prefer LOG_LEVEL/.test(w)));
    const both = loadConfig({ configDir: EMPTY, env: { RUST_LOG: 'trace', LOG_LEVEL: 'error' } });
    assert.equal(both.config.observability.log_level, 'error');
    assert.ok(both.warnings.some((w) => /RUST_LOG is ignored/.test(w)));
  });

  it('names the variable when its value is bad', () => {
    for (const [name, value, key] of [
      ['DATABASE_MAX_CONNECTIONS', 'abc', 'database.max_connections'],
      ['REDIS_PORT', '99999', 'message_queue.redis.port'],
      ['LOG_LEVEL', 'loud', 'observability.log_level'],
      ['RUST_LOG', 'loud', 'observability.log_level'],
      ['MESSAGE_QUEUE_TYPE', 'kafka', 'message_queue.type'],
      ['API_BIND_ADDRESS', 'nowhere', 'api.bind_address'],
      ['WORKER_MAX_CONCURRENT_TASKS', '0', 'worker.max_concurrent_tasks'],
    ] as const) {
      const problems = problemsOf(() => loadConfig({ configDir: EMPTY, env: { [name]: value } }));
      assert.ok(problems.some((p) => p.path === key && p.message.startsWith(`in environment variable ${name}: `)), `${name}: ${JSON.stringify(problems)}`);
    }
  });

  it('refuses malformed API_KEYS JSON, naming API_KEYS', () => {
    const [p] = problemsOf(() => loadConfig({ configDir: EMPTY, env: { API_KEYS: '{key1: [Admin]}' } }));
    assert.equal(p?.path, 'api.auth.api_keys');
    assert.match(p?.message ?? '', /^in environment variable API_KEYS: expected a JSON object/);
    const [q] = problemsOf(() => loadConfig({ configDir: EMPTY, env: { API_KEYS: '["Admin"]' } }));
    assert.match(q?.message ?? '', /API_KEYS/);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ configDir: EMPTY, env: { DATABASE_URL: '' } }).config.embedded, true);
  });
});

describe('post-validation rules', () => {
  const prod = (extra = '') => configDir({ 'production.toml': `[api.auth]\nenabled = true\n${extra}` });
  const dbEnv = { DATABASE_URL: 'postgresql://db/x' };

  it('production refuses auth disabled, naming key and file', () => {
    const dir = configDir({ 'production.toml': '[api.auth]\nenabled = false' });
    const problems = problemsOf(() => loadConfig({ configDir: dir, environment: 'production', env: { ...dbEnv, JWT_SECRET: SECRET } }));
    assert.equal(problems[0]?.path, 'api.auth.enabled');
    assert.match(problems[0]?.message ?? '', /production\.toml: authentication must be enabled in the production environment/);
  });

  it('staging and production refuse a missing or weak jwt_secret', () => {
    for (const environment of ['staging', 'production']) {
      const dir = configDir({ [`${environment}.toml`]: '' });
      const [missing] = problemsOf(() => loadConfig({ configDir: dir, environment, env: dbEnv }));
      assert.equal(missing?.path, 'api.auth.jwt_secret');
      assert.match(missing?.message ?? '', new RegExp(`${environment}\\.toml: is not set; the ${environment} environment needs at least 32 characters`));
      const [weak] = problemsOf(() => loadConfig({ configDir: dir, environment, env: { ...dbEnv, JWT_SECRET: 'short' } }));
      assert.match(weak?.message ?? '', /^in environment variable JWT_SECRET: is too weak \(5 characters\)/);
    }
    const weakInFile = problemsOf(() => loadConfig({ configDir: prod('jwt_secret = "tiny"'), environment: 'production', env: dbEnv }));
    assert.match(weakInFile[0]?.message ?? '', /production\.toml: is too weak/);
    // on a broker production also needs the run-signing key (docs/brokers.md)
    assert.doesNotThrow(() => loadConfig({ configDir: prod('[message_queue.signing]\nsecret_key = "a-signing-key"'), environment: 'production', env: { ...dbEnv, JWT_SECRET: SECRET } }));
  });

  it('development with auth disabled only warns', () => {
    const { warnings } = loadConfig({ configDir: configDir({ 'development.toml': '[api.auth]\nenabled = false' }), env: {} });
    assert.ok(warnings.some((w) => /api\.auth\.enabled is false \(.*development\.toml\)/.test(w)));
  });

  it('min_connections must not exceed max_connections (also for the pool)', () => {
    const dir = configDir({ 'development.toml': '[database]\nmin_connections = 20\n' });
    const [p] = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    assert.equal(p?.path, 'database.min_connections');
    assert.match(p?.message ?? '', /development\.toml: database\.min_connections \(20\) must not exceed database\.max_connections \(10, from the defaults\)/);
    const pool = configDir({ 'development.toml': '[database.pool]\nmax_connections = 2\nmin_connections = 3' });
    assert.equal(problemsOf(() => loadConfig({ configDir: pool, env: {} }))[0]?.path, 'database.pool.min_connections');
  });

  it('[database.pool] falls back to [database] key by key', () => {
    const dir = configDir({ 'development.toml': '[database]\nmax_connections = 7\nconnection_timeout_seconds = 3\n[database.pool]\nmin_connections = 2' });
    const { pool } = loadConfig({ configDir: dir, env: {} }).config.database;
    assert.deepEqual(pool, { max_connections: 7, min_connections: 2, acquire_timeout_seconds: 3, max_lifetime_seconds: 0, idle_timeout_seconds: 600 });
  });

  it('[api.security] wins over [api] and [api.rate_limiting], with a warning when they disagree', () => {
    const dir = configDir({ 'development.toml': '[api]\ncors_origins = ["a"]\n[api.security]\ncors_origins = ["b"]\nrate_limiting_enabled = true' });
    const { config, warnings } = loadConfig({ configDir: dir, env: {} });
    assert.deepEqual(config.api.cors_origins, ['b']);
    assert.equal(config.api.rate_limiting.enabled, true);
    assert.ok(warnings.some((w) => w.startsWith('api.security.cors_origins (')));
  });

  it('worker_timeout_seconds must exceed heartbeat_interval_seconds', () => {
    const dir = configDir({ 'development.toml': '[worker]\nheartbeat_interval_seconds = 100' });
    assert.equal(problemsOf(() => loadConfig({ configDir: dir, env: {} }))[0]?.path, 'dispatcher.worker_timeout_seconds');
  });

  it('rabbitmq needs an amqp URL; TLS needs cert and key', () => {
    const mq = problemsOf(() => loadConfig({ configDir: EMPTY, env: { ...dbEnv, MESSAGE_QUEUE_TYPE: 'rabbitmq' } }));
    assert.equal(mq[0]?.path, 'message_queue.url');
    const tls = configDir({ 'development.toml': '[api.tls]\nenabled = true' });
    assert.deepEqual(problemsOf(() => loadConfig({ configDir: tls, env: {} })).map((p) => p.path), ['api.tls.cert_file', 'api.tls.key_file']);
  });
});

describe('embedded default', () => {
  it('with no database url the config is embedded and the queue is postgres, with a warning', () => {
    const { config, warnings } = loadConfig({ configDir: EMPTY, env: {} });
    assert.equal(config.database.url, '');
    assert.equal(config.embedded, true);
    assert.equal(config.message_queue.type, 'postgres');
    assert.ok(warnings.some((w) => /message_queue\.type "redis_stream" \(the defaults\) is replaced by "postgres"/.test(w)));
  });

  it('with a database url the configured queue type stays', () => {
    const { config } = loadConfig({ configDir: EMPTY, env: { DATABASE_URL: 'postgres://db/x' } });
    assert.equal(config.embedded, false);
    assert.equal(config.message_queue.type, 'redis_stream');
  });
});

describe('no-effect keys', () => {
  it('are accepted with a warning that says why', () => {
    const dir = configDir({
      'development.toml': [
        '[database]', 'query_cache_size = 1000', 'read_only = true',
        '[database.read_replicas]', 'replica1 = "postgresql://postgres:pass@db-replica1:5432/scheduler"',
        '[api.auth]', 'jwt_expiration_hours = 12', 'refresh_token_expiration_days = 7',
        '[message_queue]', 'max_retries = 5', 'retry_delay_seconds = 30', 'publisher_confirms = false', 'durable_queues = false',
        '[message_queue.redis]', 'consumer_group_size = 5', 'max_stream_length = 10000',
        '[worker]', 'worker_memory_limit_mb = 2048',
        '[observability]', 'max_log_file_size_mb = 100', 'max_log_files = 10',
      ].join('\n'),
    });
    const { warnings } = loadConfig({ configDir: dir, env: {} });
    for (const { key, reason } of NO_EFFECT_KEYS) {
      assert.ok(warnings.some((w) => w.startsWith(`${key} (`) && w.includes('development.toml') && w.endsWith(`has no effect: ${reason}`)), key);
    }
  });

  it('do not warn when left at their defaults', () => {
    const dir = configDir({ 'development.toml': '[database]\nread_only = false\n[message_queue]\npublisher_confirms = true\n[worker]\nworker_memory_limit_mb = 0' });
    assert.ok(!loadConfig({ configDir: dir, env: {} }).warnings.some((w) => w.includes('has no effect')));
  });
});

describe('secrets', () => {
  it('redactConfig hides secrets, key names and URL credentials', () => {
    const { config } = loadConfig({
      configDir: configDir({ 'development.toml': '[database.read_replicas]\nr1 = "postgresql://postgres:pass@replica:5432/s"' }),
      env: {
        DATABASE_URL: 'postgresql://app:s3cret@db:5432/x?sslmode=require&password=zz',
        MESSAGE_QUEUE_URL: 'redis://:redispw@cache:6379',
        REDIS_PASSWORD: 'hunter2',
        JWT_SECRET: SECRET,
        API_KEYS: '{"admin-key": ["Admin"], "ro-key": ["TaskRead"]}',
      },
    });
    const r = redactConfig(config);
    assert.equal(r.database.url, 'postgresql://***@db:5432/x?sslmode=require&password=***');
    assert.equal(r.database.read_replicas.r1, 'postgresql://***@replica:5432/s');
    assert.equal(r.message_queue.url, 'redis://***@cache:6379');
    assert.equal(r.message_queue.redis.password, '***');
    assert.equal(r.api.auth.jwt_secret, '***');
    assert.deepEqual(r.api.auth.api_keys, { '***1': ['Admin'], '***2': ['TaskRead'] });
    assert.ok(!JSON.stringify(r).match(/s3cret|redispw|hunter2|admin-key|pass@/));
    assert.equal(config.api.auth.jwt_secret, SECRET, 'the original is untouched');
  });

  it('SECRET_ENV_NAMES and isSecretEnvName cover the worker\'s credentials', () => {
    for (const n of ['DATABASE_URL', 'MESSAGE_QUEUE_URL', 'JWT_SECRET', 'API_KEYS', 'REDIS_PASSWORD']) assert.ok(SECRET_ENV_NAMES.includes(n), n);
    for (const n of ['STAGING_JWT_SECRET', 'PGPASSWORD', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'STAGING_DATABASE_URL']) assert.ok(isSecretEnvName(n), n);
    for (const n of ['PATH', 'HOME', 'LOG_LEVEL', 'WORKER_ID', 'HOURGLASS_SHARD_INDEX']) assert.ok(!isSecretEnvName(n), n);
  });
});

describe('shipped config files', () => {
  it('development loads with no variables: embedded, 127.0.0.1:8080, auth off with a warning, debug logs, a worker', () => {
    const { config, warnings, sources } = loadConfig({ configDir: SHIPPED, environment: 'development', env: {} });
    assert.equal(config.embedded, true);
    assert.equal(config.message_queue.type, 'postgres');
    assert.deepEqual(parseBindAddress(config.api.bind_address), { host: '127.0.0.1', port: 8080 });
    assert.equal(config.api.auth.enabled, false);
    assert.equal(config.observability.log_level, 'debug');
    assert.equal(config.worker.enabled, true);
    assert.equal(config.dispatcher.enabled, true);
    assert.deepEqual(warnings.length, 1, JSON.stringify(warnings));
    assert.deepEqual(sources, ['base', 'auth', 'security', 'timeouts', 'development'].map((f) => path.relative(process.cwd(), path.join(SHIPPED, `${f}.toml`))));
  });

  it('staging loads with its variables set', () => {
    const { config, warnings } = loadConfig({
      configDir: SHIPPED, environment: 'staging',
      env: { STAGING_DATABASE_URL: 'postgresql://u:p@db/s', STAGING_MESSAGE_QUEUE_URL: 'amqp://u:p@mq', STAGING_JWT_SECRET: SECRET, RUN_SIGNING_SECRET_KEY: 'a-signing-key' },
    });
    assert.equal(config.message_queue.type, 'rabbitmq');
    assert.equal(config.database.max_connections, 20);
    assert.equal(config.api.auth.enabled, true);
    assert.deepEqual(warnings, []);
  });

  it('production loads with its variables set, and refuses without them', () => {
    const env = { DATABASE_URL: 'postgresql://u:p@db/s', MESSAGE_QUEUE_URL: 'amqp://u:p@mq', JWT_SECRET: SECRET, FRONTEND_URL: 'https://app.example.com', RUN_SIGNING_SECRET_KEY: 'a-signing-key' };
    const { config, warnings } = loadConfig({ configDir: SHIPPED, environment: 'production', env });
    assert.equal(config.database.max_connections, 50);
    assert.deepEqual(config.api.cors_origins, ['https://app.example.com']);
    assert.equal(config.api.rate_limiting.enabled, true);
    assert.deepEqual(parseBindAddress(config.api.bind_address), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(warnings, []);
    // nothing set: every missing piece in one answer (it used to name only message_queue.url, then the next)
    const unresolved = problemsOf(() => loadConfig({ configDir: SHIPPED, environment: 'production', env: {} }));
    assert.deepEqual(unresolved.map((p) => p.path), ['message_queue.url', 'api.auth.jwt_secret', 'database.url']);
    const brokerOnly = { MESSAGE_QUEUE_URL: 'amqp://u:p@mq' };
    const problems = problemsOf(() => loadConfig({ configDir: SHIPPED, environment: 'production', env: brokerOnly }));
    assert.deepEqual(problems.map((p) => p.path), ['api.auth.jwt_secret', 'database.url']);
    assert.match(problems[1]?.message ?? '', /needs a Postgres database \(set DATABASE_URL\)/);
    // without FRONTEND_URL no origin is allowed, rather than the origin ""
    assert.deepEqual(loadConfig({ configDir: SHIPPED, environment: 'production', env: { ...env, FRONTEND_URL: undefined } }).config.api.cors_origins, []);
  });

  it('production asks each mode only for what it uses: a worker on a broker needs no database and no JWT secret', () => {
    const brokerOnly = { MESSAGE_QUEUE_URL: 'amqp://u:p@mq' };
    const { config } = loadConfig({ configDir: SHIPPED, environment: 'production', env: { ...brokerOnly, RUN_SIGNING_PUBLIC_KEY: 'a-public-key' }, mode: 'worker' });
    assert.equal(config.embedded, false);
    assert.equal(config.message_queue.type, 'rabbitmq');
    assert.deepEqual(problemsOf(() => loadConfig({ configDir: SHIPPED, environment: 'production', env: brokerOnly, mode: 'dispatcher' })).map((p) => p.path), ['database.url']);
    assert.deepEqual(problemsOf(() => loadConfig({ configDir: SHIPPED, environment: 'production', env: brokerOnly, mode: 'api' })).map((p) => p.path), ['api.auth.jwt_secret', 'database.url']);
  });

  it('refuses a fire lead above a quarter of the lease (a fire prepared ahead holds its fenced transaction that long), naming the key and the bound', () => {
    const paths = (base: string) => problemsOf(() => loadConfig({ configDir: configDir({ 'base.toml': base }), env: {} })).map((p) => p.path);
    const problems = (base: string) => problemsOf(() => loadConfig({ configDir: configDir({ 'base.toml': base }), env: {} }));
    assert.deepEqual(paths('[dispatcher]\nfire_lead_ms = 1251\n'), ['dispatcher.fire_lead_ms'], 'the 5 s default lease allows 1,250 ms');
    assert.match(problems('[dispatcher]\nfire_lead_ms = 800\nleader_lease_seconds = 3\n')[0]?.message ?? '', /at most a quarter of dispatcher\.leader_lease_seconds \(3 s, so 750 ms\)/);
    assert.equal(loadConfig({ configDir: configDir({ 'base.toml': '[dispatcher]\nfire_lead_ms = 1250\n' }), env: {} }).config.dispatcher.fire_lead_ms, 1250);
    assert.equal(loadConfig({ configDir: configDir({ 'base.toml': '' }), env: {} }).config.dispatcher.fire_lead_ms, 200, 'the default');
  });

  it('warns when the worker timeout does not exceed the query deadline (a stalled status write would get live workers declared dead)', () => {
    const warned = (base: string) => loadConfig({ configDir: configDir({ 'base.toml': base }), env: {} }).warnings.filter((w) => /does not exceed database.query_timeout_seconds/.test(w));
    assert.equal(warned('[dispatcher]\nworker_timeout_seconds = 40\n').length, 1, 'equal to the 40 s default deadline');
    assert.match(warned('[dispatcher]\nworker_timeout_seconds = 35\n')[0] ?? '', /worker_timeout_seconds \(35, .*base\.toml.*\(40\)/);
    assert.deepEqual(warned(''), [], 'the defaults: 90 s against 40 s');
    assert.deepEqual(warned('[dispatcher]\nworker_timeout_seconds = 35\n[database]\nquery_timeout_seconds = 0\n'), [], 'no deadline, nothing to compare');
  });

  it('base.toml is the generated reference of every key and its default', () => {
    assert.equal(readFileSync(path.join(SHIPPED, 'base.toml'), 'utf8'), renderBaseToml(), 'regenerate config/base.toml (command in its header)');
  });

  it('the schema alone supplies every default', () => {
    const c = ConfigSchema.parse({});
    assert.equal(c.worker.drain_timeout_seconds, 60);
    assert.equal(c.worker.output_limit_kb, 256);
    assert.equal(c.message_queue.type, 'redis_stream');
  });
});

describe('helpers', () => {
  it('parseBindAddress', () => {
    assert.deepEqual(parseBindAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseBindAddress('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseBindAddress(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.throws(() => parseBindAddress('8080'), ValidationError);
    assert.throws(() => parseBindAddress('h:70000'), ValidationError);
  });

  it('defaultConfigDir finds config/ from source and from dist', () => {
    assert.equal(defaultConfigDir(), SHIPPED);
    assert.equal(defaultConfigDir(pathToFileURL(path.join(REPO, 'dist/core/config/paths.js')).href), SHIPPED);
  });
});

describe('API_KEYS replaces the file table', () => {
  it('does not merge with [api.auth.api_keys] from files', () => {
    const dir = configDir({ 'development.toml': '[api.auth.api_keys]\nfile-key = ["Admin"]' });
    const { config } = loadConfig({ configDir: dir, env: { API_KEYS: '{"env-key": ["TaskRead"]}' } });
    assert.deepEqual(config.api.auth.api_keys, { 'env-key': ['TaskRead'] });
  });
});
