import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ENV_OVERRIDES, loadConfig } from '../../core/config/index.ts';
import type { ConfigMode } from '../../core/config/rules.ts';
import { queueNames } from '../../core/queue/factory.ts';
import { rabbitPermissions } from '../../core/queue/rabbitmq/permissions.ts';
import { exportSigningKeys, generateSigningKeys } from '../../core/queue/run-signing.ts';
import { redisAclRules } from '../../core/queue/redis-stream/acl.ts';
import { freePort, startProcess, tempDir, waitFor, writeTestConfig } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import { configFileVariables, expectSuccess, readRepoFile, REPO_ROOT, repoPath, run, runAsync, toolOrSkip } from './support.ts';

interface Healthcheck {
  test?: string[] | string;
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  restart?: string;
  container_name?: string;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { name?: string; external?: boolean }>;
}

// Checked before any test runs: the docker-compose tests below block the event loop (spawnSync), which
// would time out a connection check started meanwhile.
const servicesSkip = await skipUnless('postgres', 'redis', 'rabbitmq');

const FILES = ['docker-compose.dev.yml', 'docker-compose.yml', 'docker-compose.infrastructure.yml', 'docker-compose.scheduler.yml', 'docker-compose.api.yml', 'docker-compose.workers.yml'];
const load = (file: string): ComposeFile => parseYaml(readRepoFile(file), { merge: true }) as ComposeFile;
const isScheduler = (service: Service) => (service.image ?? '').includes('scheduler:') || service.build !== undefined;

/** The --mode a service runs; undefined for other commands (migrate run checks every rule). */
function modeOf(service: Service): ConfigMode | undefined {
  const command = service.command ?? [];
  const at = command.indexOf('--mode');
  return at >= 0 ? (command[at + 1] as ConfigMode) : undefined;
}

/** What a worker on a broker must not hold: it reads no database, serves no API and signs no run message. */
const WORKER_FORBIDDEN = ['DATABASE_URL', 'JWT_SECRET', 'API_KEYS', 'FRONTEND_URL', 'RUN_SIGNING_SECRET_KEY'] as const;

/** How an operator switches the compose files to redis_stream: each role's URL names its ACL user (docs/brokers.md). */
const REDIS_ACCOUNTS = {
  CORE_MESSAGE_QUEUE_URL: 'redis://hourglass-core:c0re@redis:6379/0',
  WORKER_MESSAGE_QUEUE_URL: 'redis://hourglass-worker-default:w0rker@redis:6379/0',
};

/** What the compose ACL file grants the core beyond redisAclRules (docs/brokers.md, "Compose"). */
const CORE_EXTRA_RULES = ['~hourglass-ratelimit-*', '+incr', '+pexpire', '+pttl', '+del'];

/** A real run-signing key pair: production on a broker needs the secret key in the core, the public key in workers. */
const { secretKey, publicKey } = exportSigningKeys(generateSigningKeys());
const SIGNING_KEYS = { RUN_SIGNING_SECRET_KEY: secretKey, RUN_SIGNING_PUBLIC_KEY: publicKey };

/** Compose variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR, $$. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const key = (name ?? bare) as string;
    const current = env[key];
    if (op === ':-') return current === undefined || current === '' ? (arg as string) : current;
    if (op === '-') return current === undefined ? (arg as string) : current;
    if (op === ':?' || op === '?') {
      if (current === undefined || (op === ':?' && current === '')) throw new Error(`${key}: ${arg}`);
      return current;
    }
    return current ?? '';
  });
}

/** Names of variables a compose file reads from the shell that runs it. */
function hostVariables(file: string): Set<string> {
  const names = new Set<string>();
  const text = readRepoFile(file).split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n').replace(/\$\$/g, '');
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g)) names.add((match[1] ?? match[2]) as string);
  return names;
}

/** The environment a scheduler container gets, as docker-compose would resolve it from the host's. */
function serviceEnv(service: Service, host: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) out[key] = interpolate(String(value), host);
  return out;
}

describe('docker-compose files', () => {
  it('parse, and every service has an image or a build context that exists, and a health check', () => {
    for (const file of FILES) {
      const compose = load(file);
      assert.ok(Object.keys(compose.services).length > 0, `${file} has services`);
      for (const [name, service] of Object.entries(compose.services)) {
        assert.ok(service.image || service.build, `${file} ${name}: image or build`);
        if (service.image) assert.match(interpolate(service.image, {}), /^[\w./-]+:[\w.-]+$/, `${file} ${name}: image reference with a tag`);
        if (service.build) {
          const build = typeof service.build === 'string' ? { context: service.build } : service.build;
          assert.ok(statSync(repoPath(build.context)).isDirectory(), `${file} ${name}: build context ${build.context}`);
          assert.ok(existsSync(path.join(repoPath(build.context), build.dockerfile ?? 'Dockerfile')), `${file} ${name}: Dockerfile`);
        }
        const check = service.healthcheck;
        if (check?.disable) {
          assert.equal(service.restart, 'no', `${file} ${name}: only a one-shot job goes without a health check`);
        } else {
          assert.ok(Array.isArray(check?.test) && check.test.length >= 2 && ['CMD', 'CMD-SHELL'].includes(check.test[0] as string), `${file} ${name}: a health check`);
        }
      }
    }
  });

  it('depend only on services of the same file, with conditions those services can meet', () => {
    for (const file of FILES) {
      const { services } = load(file);
      for (const [name, service] of Object.entries(services)) {
        if (!service.depends_on) continue;
        assert.ok(!Array.isArray(service.depends_on), `${file} ${name}: depends_on with conditions`);
        for (const [target, { condition }] of Object.entries(service.depends_on)) {
          const dependency = services[target];
          assert.ok(dependency, `${file} ${name} depends on ${target}, a service of ${file}`);
          assert.ok(['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition), `${file} ${name}: condition ${condition}`);
          if (condition === 'service_healthy') assert.ok(dependency.healthcheck?.test && !dependency.healthcheck.disable, `${file} ${name}: ${target} has a health check to wait for`);
          if (condition === 'service_completed_successfully') assert.equal(dependency.restart, 'no', `${file} ${name}: ${target} is a job that ends`);
          assert.deepEqual(dependency.profiles ?? [], service.profiles?.length ? dependency.profiles ?? [] : [], `${file} ${name}: ${target} starts in the same profiles`);
        }
      }
    }
  });

  it('mount only files and folders that exist, and declare every named volume', () => {
    for (const file of FILES) {
      const compose = load(file);
      for (const [name, service] of Object.entries(compose.services)) {
        for (const volume of service.volumes ?? []) {
          const [source] = volume.split(':') as [string];
          if (source.startsWith('.') || source.startsWith('/')) assert.ok(existsSync(path.resolve(REPO_ROOT, source)), `${file} ${name}: ${source} exists`);
          else assert.ok(compose.volumes && source in compose.volumes, `${file} ${name}: volume ${source} is declared`);
        }
      }
    }
  });

  it('pass the scheduler only environment variables that core/config/env.ts or the config files read', () => {
    const known = new Set([...ENV_OVERRIDES.map((o) => o.name), ...configFileVariables()]);
    let checked = 0;
    for (const file of FILES) {
      for (const [name, service] of Object.entries(load(file).services)) {
        if (!isScheduler(service)) continue;
        for (const variable of Object.keys(service.environment ?? {})) {
          assert.ok(known.has(variable), `${file} ${name}: ${variable} is read by nothing`);
          checked++;
        }
      }
    }
    assert.ok(checked > 50);
  });

  it('honour the variable names of the guide (core/config/env.ts reads each)', () => {
    const guide = path.resolve(REPO_ROOT, '..', 'shared', 'seed', 'deployment-guide.zh.md');
    const names = new Set(['ENVIRONMENT', 'DATABASE_URL', 'DATABASE_MAX_CONNECTIONS', 'MESSAGE_QUEUE_URL', 'MESSAGE_QUEUE_TYPE', 'RUST_LOG', 'LOG_FORMAT', 'JWT_SECRET', 'API_KEYS', 'WORKER_ID']);
    if (existsSync(guide)) for (const match of readFileSync(guide, 'utf8').matchAll(/^export ([A-Z_]+)=/gm)) names.add(match[1] as string);
    const read = new Set(ENV_OVERRIDES.map((o) => o.name));
    for (const name of names) assert.ok(read.has(name), `${name} from the guide is an override in core/config/env.ts`);
    const full = load('docker-compose.yml').services;
    for (const name of ['ENVIRONMENT', 'DATABASE_URL', 'DATABASE_MAX_CONNECTIONS', 'MESSAGE_QUEUE_URL', 'MESSAGE_QUEUE_TYPE', 'LOG_FORMAT', 'JWT_SECRET', 'API_KEYS']) {
      assert.ok(full.api?.environment && name in full.api.environment, `docker-compose.yml passes ${name} to the API`);
    }
  });

  it('document every variable they read from the shell in docs/deployment.md', () => {
    const docs = readRepoFile('docs/deployment.md');
    for (const file of FILES) for (const name of hostVariables(file)) assert.ok(docs.includes(name), `${file} reads ${name}: docs/deployment.md explains it`);
  });

  it('start every scheduler service with a config the real loader accepts in its mode, by default and in production', () => {
    const production = { ENVIRONMENT: 'production', JWT_SECRET: 'x'.repeat(40), API_KEYS: '{"ci-admin-key-of-at-least-32-characters": ["Admin"]}', FRONTEND_URL: 'https://scheduler.example.com', ...SIGNING_KEYS };
    let checked = 0;
    for (const file of FILES) {
      for (const [name, service] of Object.entries(load(file).services)) {
        if (!isScheduler(service)) continue;
        const mode = modeOf(service);
        const loadAs = (host: Record<string, string | undefined>) => loadConfig({ env: serviceEnv(service, host), ...(mode ? { mode } : {}) });
        const byDefault = loadAs({}).config;
        assert.equal(byDefault.environment, 'development', `${file} ${name}`);
        assert.equal(byDefault.message_queue.type, 'rabbitmq', `${file} ${name}: the compose broker`);
        assert.equal(byDefault.embedded, false, `${file} ${name}: not the embedded toy database`);
        if (mode === 'worker') {
          assert.equal(byDefault.database.url, '', `${file} ${name}: a worker holds no database URL`);
        } else {
          assert.match(byDefault.database.url, /@postgres:5432\/scheduler$/, `${file} ${name}`);
        }
        if (mode === undefined || mode === 'api') {
          assert.equal(byDefault.api.bind_address, '0.0.0.0:8080', `${file} ${name}: reachable from other containers`);
          assert.equal(byDefault.api.auth.enabled, true, `${file} ${name}: so auth is on, even in development`);
        }
        else assert.equal(byDefault.observability.metrics_bind_address, '0.0.0.0:8080', `${file} ${name}: /health and /metrics where Prometheus scrapes`);
        const prod = loadAs(production).config;
        assert.equal(prod.environment, 'production', `${file} ${name}`);
        if (mode === undefined || mode === 'api') {
          assert.equal(prod.api.auth.enabled, true, `${file} ${name}: auth in production`);
          assert.throws(() => loadAs({ ...production, JWT_SECRET: undefined }), /JWT_SECRET/, `${file} ${name}: production refuses to start without JWT_SECRET`);
        } else {
          // dispatchers and workers serve no API: they start in production without the JWT secret they are not given
          assert.equal(loadAs({ ...production, JWT_SECRET: undefined }).config.environment, 'production', `${file} ${name}`);
        }
        // production on a broker refuses to start without the run-signing key of the service's role
        const unsigned = { ...production, RUN_SIGNING_SECRET_KEY: undefined, RUN_SIGNING_PUBLIC_KEY: undefined };
        assert.throws(() => loadAs(unsigned), mode === 'worker' ? /RUN_SIGNING_PUBLIC_KEY/ : /RUN_SIGNING_SECRET_KEY/, `${file} ${name}: production refuses unsigned runs`);
        const redis = loadAs({ MESSAGE_QUEUE_TYPE: 'redis_stream', ...REDIS_ACCOUNTS }).config;
        assert.equal(redis.message_queue.type, 'redis_stream', `${file} ${name}: the broker is switchable`);
        checked++;
      }
    }
    assert.ok(checked >= 10, `${checked} scheduler services checked`);
  });

  it('give workers on a broker no database URL and no JWT secret (least privilege), and a config that loads as --mode worker', () => {
    const production = { ENVIRONMENT: 'production', WORKER_MESSAGE_QUEUE_URL: 'amqp://hourglass-worker-default:secret@rabbitmq:5672/hourglass', RUN_SIGNING_PUBLIC_KEY: SIGNING_KEYS.RUN_SIGNING_PUBLIC_KEY };
    let workers = 0;
    for (const file of FILES) {
      for (const [name, service] of Object.entries(load(file).services)) {
        if (!isScheduler(service) || modeOf(service) !== 'worker') continue;
        workers++;
        const env = serviceEnv(service, {});
        for (const secret of WORKER_FORBIDDEN) assert.ok(!(secret in env), `${file} ${name}: a worker is given ${secret}`);
        for (const host of [{}, production, { MESSAGE_QUEUE_TYPE: 'redis_stream', ...REDIS_ACCOUNTS }]) {
          const { config } = loadConfig({ env: serviceEnv(service, host), mode: 'worker' });
          assert.notEqual(config.message_queue.type, 'postgres', `${file} ${name}: on a broker`);
          assert.equal(config.database.url, '', `${file} ${name}`);
          assert.equal(config.embedded, false, `${file} ${name}: no embedded database either`);
        }
        const types = loadConfig({ env: serviceEnv(service, { WORKER_SUPPORTED_TASK_TYPES: 'http' }), mode: 'worker' }).config.worker.supported_task_types;
        assert.deepEqual(types, ['http'], `${file} ${name}: WORKER_SUPPORTED_TASK_TYPES narrows the executors`);
        const byDefault = loadConfig({ env: serviceEnv(service, {}), mode: 'worker' }).config.worker.supported_task_types;
        assert.deepEqual(byDefault, loadConfig({ env: {}, mode: 'worker' }).config.worker.supported_task_types, `${file} ${name}: the compose default is the config default`);
        // the same environment would not start an API or a dispatcher in production: the checks above are not vacuous
        assert.throws(() => loadConfig({ env: serviceEnv(service, production), mode: 'dispatcher' }), /DATABASE_URL/);
        assert.throws(() => loadConfig({ env: serviceEnv(service, production), mode: 'api' }), /JWT_SECRET/);
      }
    }
    assert.equal(workers, 4, 'worker-1 and worker-2 in docker-compose.yml and docker-compose.workers.yml');
  });

  it('run the modes and commands the scheduler has', () => {
    const modes = /MODES = \[([^\]]*)\]/.exec(readRepoFile('cli/runtime.ts'))?.[1]?.match(/'(\w+)'/g)?.map((m) => m.slice(1, -1)) ?? [];
    assert.ok(modes.includes('worker'));
    for (const file of FILES) {
      for (const [name, service] of Object.entries(load(file).services)) {
        if (!isScheduler(service)) continue;
        const command = service.command ?? [];
        if (command[0] === 'migrate') {
          assert.deepEqual(command, ['migrate', 'run']);
          continue;
        }
        assert.equal(command[0], '--mode', `${file} ${name}`);
        assert.ok(modes.includes(command[1] as string), `${file} ${name}: mode ${command[1]}`);
        if (command[1] === 'worker') {
          assert.equal(command[command.indexOf('--worker-id') + 1], name, `${file} ${name}: worker id = service name = scrape target`);
          assert.ok(command.includes('--pool'));
        }
      }
    }
    const help = expectSuccess(run(process.execPath, [repoPath('cli', 'bin', 'scheduler.ts'), '--help']), 'scheduler --help');
    for (const flag of ['--mode', '--worker-id', '--pool', '--config']) assert.ok(help.includes(flag), `scheduler --help lists ${flag}`);
  });

  it('expose what the guide uses: API on 8080 and 8081, container names, the monitoring profile', () => {
    const full = load('docker-compose.yml').services;
    // published on this host only: other machines go through a proxy with TLS
    assert.deepEqual(full.api?.ports, ['127.0.0.1:8080:8080', '127.0.0.1:8081:8080']);
    assert.equal(full.postgres?.container_name, 'scheduler-postgres');
    assert.equal(full.redis?.container_name, 'redis');
    assert.equal(full.rabbitmq?.container_name, 'rabbitmq');
    assert.match(full.postgres?.image ?? '', /^postgres:15/);
    assert.match(full.rabbitmq?.image ?? '', /management/);
    for (const [name, port] of [['prometheus', '9090:9090'], ['alertmanager', '9093:9093'], ['grafana', '3000:3000']] as const) {
      assert.deepEqual(full[name]?.profiles, ['monitoring']);
      assert.ok(full[name]?.ports?.includes(port), `${name} on ${port}`);
    }
    assert.equal(full.grafana?.environment?.GF_SECURITY_ADMIN_PASSWORD, '${GRAFANA_ADMIN_PASSWORD:-admin}');
    const dev = load('docker-compose.dev.yml').services;
    assert.deepEqual(Object.keys(dev).sort(), ['postgres', 'rabbitmq', 'redis']);
    assert.equal(dev.postgres?.environment?.POSTGRES_DB, 'scheduler_dev', 'the database of config/development.toml\'s commented url');
  });

  it('split the full stack into the guide\'s four files that share one network', () => {
    const full = Object.keys(load('docker-compose.yml').services).filter((s) => !load('docker-compose.yml').services[s]?.profiles);
    const split = ['docker-compose.infrastructure.yml', 'docker-compose.scheduler.yml', 'docker-compose.api.yml', 'docker-compose.workers.yml'];
    assert.deepEqual(split.flatMap((f) => Object.keys(load(f).services)).sort(), [...full].sort());
    assert.equal(load('docker-compose.infrastructure.yml').networks?.default?.name, 'hourglass');
    for (const file of split.slice(1)) assert.deepEqual(load(file).networks?.default, { external: true, name: 'hourglass' }, file);
  });

  it('give each role its own broker account and signing key: workers only their pool\'s account and the public key', () => {
    const keys = { RUN_SIGNING_SECRET_KEY: 'the-secret-key', RUN_SIGNING_PUBLIC_KEY: 'the-public-key' };
    const accounts = serviceEnv(load('docker-compose.infrastructure.yml').services.redis as Service, {});
    const passwordOf = (user: string) => accounts[user === 'hourglass-core' ? 'BROKER_CORE_PASSWORD' : 'BROKER_WORKER_PASSWORD'];
    const roles = new Set<string>();
    for (const file of FILES.filter((f) => f !== 'docker-compose.dev.yml')) {
      for (const [name, service] of Object.entries(load(file).services)) {
        if (!isScheduler(service)) continue;
        const mode = modeOf(service);
        const url = new URL(serviceEnv(service, {}).MESSAGE_QUEUE_URL ?? '');
        const signing = loadConfig({ env: serviceEnv(service, keys), ...(mode ? { mode } : {}) }).config.message_queue.signing;
        assert.equal(url.pathname, '/hourglass', `${file} ${name}: the virtual host of deploy/brokers/rabbitmq-definitions.json`);
        if (mode === 'worker') {
          const command = service.command ?? [];
          const pool = command[command.indexOf('--pool') + 1];
          assert.equal(url.username, `hourglass-worker-${pool}`, `${file} ${name}: the account of its pool`);
          const raw = JSON.stringify(service.environment);
          for (const core of ['CORE_MESSAGE_QUEUE_URL', 'BROKER_CORE_PASSWORD', 'hourglass-core', 'RUN_SIGNING_SECRET_KEY']) assert.ok(!raw.includes(core), `${file} ${name}: a worker is given ${core}`);
          assert.equal(signing.secret_key, '', `${file} ${name}: a worker never holds the signing key, even when the host exports it`);
          assert.equal(signing.public_key, 'the-public-key', `${file} ${name}: a worker verifies run messages`);
        } else {
          assert.equal(url.username, 'hourglass-core', `${file} ${name}`);
          assert.equal(signing.secret_key, 'the-secret-key', `${file} ${name}: the core signs run messages`);
        }
        assert.equal(url.password, passwordOf(url.username), `${file} ${name}: the default URL matches the broker's default password`);
        roles.add(url.username);
      }
    }
    assert.deepEqual([...roles].sort(), ['hourglass-core', 'hourglass-worker-default']);
    for (const file of ['docker-compose.yml', 'docker-compose.infrastructure.yml']) {
      const { redis, rabbitmq } = load(file).services as Record<string, Service>;
      for (const broker of [redis, rabbitmq] as Service[]) {
        assert.ok(broker.volumes?.some((v) => v.startsWith('./deploy/brokers:')), `${file}: the broker mounts deploy/brokers`);
        assert.match((broker.command ?? []).join(' '), /render\.sh .* && exec docker-entrypoint\.sh /, `${file}: the broker renders its accounts, then starts`);
        assert.deepEqual(Object.keys(serviceEnv(broker, {})).filter((k) => k.startsWith('BROKER_')), ['BROKER_CORE_PASSWORD', 'BROKER_WORKER_PASSWORD'], file);
      }
      assert.match((redis?.command ?? []).join(' '), /--aclfile \/tmp\/redis-users\.acl/);
      assert.ok(rabbitmq?.volumes?.includes('./deploy/brokers/rabbitmq.conf:/etc/rabbitmq/conf.d/90-hourglass.conf:ro'), `${file}: definitions loaded at boot`);
      assert.equal(serviceEnv(redis as Service, {}).BROKER_CORE_PASSWORD, accounts.BROKER_CORE_PASSWORD, `${file}: the same default passwords everywhere`);
      const rabbitEnv = serviceEnv(rabbitmq as Service, {});
      // the public development defaults are exactly what render.sh refuses outside development
      const refused = /development_defaults="([^"]*)"/.exec(readRepoFile('deploy/brokers/render.sh'))?.[1]?.split(' ').sort();
      assert.deepEqual(refused, [rabbitEnv.BROKER_CORE_PASSWORD, rabbitEnv.BROKER_WORKER_PASSWORD, rabbitEnv.RABBITMQ_PASSWORD].sort(), file);
      assert.equal(serviceEnv(rabbitmq as Service, { ENVIRONMENT: 'production' }).ENVIRONMENT, 'production', `${file}: the broker knows the environment`);
    }
  });

  it('define broker accounts that grant each role exactly what docs/brokers.md says', () => {
    const names = queueNames(loadConfig({ env: {} }).config);
    const docs = readRepoFile('docs/brokers.md');
    const acl = new Map(readRepoFile('deploy/brokers/redis-users.acl').trim().split('\n').map((line) => {
      const [keyword, user, ...rules] = line.split(' ');
      assert.equal(keyword, 'user', line);
      return [user as string, rules];
    }));
    assert.deepEqual([...acl.keys()], ['default', 'hourglass-core', 'hourglass-worker-default']);
    assert.deepEqual(acl.get('default'), ['off', 'resetkeys', 'resetchannels', '-@all'], 'nothing reaches Redis without an account');
    // plus what the core does on Redis beyond the queue: the API's shared rate limit (api/http-options.ts)
    // and releasing the namespace claim (cli/namespace-claim.ts); compose-broker-accounts.test.ts runs both
    assert.deepEqual(acl.get('hourglass-core'), ['on', '>${BROKER_CORE_PASSWORD}', ...redisAclRules(names, { kind: 'core' }), ...CORE_EXTRA_RULES]);
    const worker = redisAclRules(names, { kind: 'worker', pool: 'default' });
    assert.deepEqual(acl.get('hourglass-worker-default'), ['on', '>${BROKER_WORKER_PASSWORD}', ...worker]);
    assert.ok(docs.includes(`hourglass-worker-default on >WORKER_PASSWORD ${worker.join(' ')}`), 'docs/brokers.md shows the worker\'s rules');
    assert.ok(docs.includes(`hourglass-core on >CORE_PASSWORD ${redisAclRules(names, { kind: 'core' }).join(' ')}`), 'docs/brokers.md shows the core\'s rules');

    interface Definitions {
      vhosts: { name: string }[];
      users: { name: string; password: string; tags: string }[];
      permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
    }
    const definitions = JSON.parse(readRepoFile('deploy/brokers/rabbitmq-definitions.json')) as Definitions;
    assert.deepEqual(definitions.vhosts, [{ name: 'hourglass' }]);
    assert.deepEqual(definitions.users.map((u) => [u.name, u.password, u.tags]), [
      ['scheduler', '${RABBITMQ_PASSWORD}', 'administrator'],
      ['hourglass-core', '${BROKER_CORE_PASSWORD}', ''],
      ['hourglass-worker-default', '${BROKER_WORKER_PASSWORD}', ''],
    ], 'no password in the repository; only the administrator has tags');
    const permissions = new Map(definitions.permissions.map(({ user, vhost, ...grants }) => [user, { vhost, grants }]));
    assert.deepEqual(permissions.get('hourglass-core'), { vhost: 'hourglass', grants: rabbitPermissions(names, { kind: 'core' }) });
    assert.deepEqual(permissions.get('hourglass-worker-default'), { vhost: 'hourglass', grants: rabbitPermissions(names, { kind: 'worker', pool: 'default' }) });
    assert.equal(permissions.size, 3);
  });

  it('pass docker-compose config (docker-compose 1.29, the guide\'s minimum)', { skip: toolOrSkip('docker-compose', "Debian's docker-compose package") }, () => {
    for (const file of FILES) {
      expectSuccess(run('docker-compose', ['-f', file, '--profile', 'monitoring', 'config', '-q'], { env: { ...process.env, COMPOSE_PROJECT_NAME: 'hgcheck' } }), `docker-compose -f ${file} config`);
    }
  });
});

describe('docker-compose health checks, run for real', { skip: servicesSkip }, () => {
  it('a worker started with docker-compose.workers.yml\'s environment in production (no DATABASE_URL, no JWT_SECRET) runs, and its health check follows it', async () => {
    const service = load('docker-compose.workers.yml').services['worker-1'] as Service;
    const test = service.healthcheck?.test as string[];
    assert.deepEqual(test.slice(0, 3), ['CMD', 'node', '-e']);
    const port = await freePort();
    const script = (test[3] as string).replace('127.0.0.1:8080', `127.0.0.1:${port}`);
    assert.notEqual(script, test[3], 'the check targets 127.0.0.1:8080');
    const env: Record<string, string | undefined> = {
      ...serviceEnv(service, { ENVIRONMENT: 'production', WORKER_MESSAGE_QUEUE_URL: SERVICE_URLS.rabbitmq, ...SIGNING_KEYS }),
      METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
    };
    for (const secret of WORKER_FORBIDDEN) {
      assert.ok(!(secret in env), `worker-1 is not given ${secret}`);
      env[secret] = undefined; // nor inherits it from the test runner
    }
    const tmp = tempDir('hg-compose-worker-');
    const worker = startProcess({ name: 'compose-worker-1', args: [...(service.command ?? []), '--config', writeTestConfig(tmp.dir, uniqueNamespace('compose'))], env });
    try {
      await waitFor(async () => (await runAsync(process.execPath, ['-e', script], { timeoutMs: 15_000 })).code === 0, 30_000, 500, 'the worker\'s health check to pass')
        .catch((error: Error) => { throw new Error(`${error.message}\n${worker.lines.join('\n')}`); });
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^process_cpu_seconds_total /m, 'the scheduler-workers job finds metrics there');
      worker.kill('SIGTERM');
      await worker.waitForExit(30_000);
      assert.equal((await runAsync(process.execPath, ['-e', script], { timeoutMs: 15_000 })).code, 1, 'the check fails once the worker is gone');
    } finally {
      if (!worker.exited) worker.kill('SIGKILL');
      tmp.remove();
    }
  });

  it('the API check passes on 200 from /ready and fails on 503', async () => {
    const test = load('docker-compose.yml').services.api?.healthcheck?.test as string[];
    let status = 200;
    const server = createServer((request, response) => {
      response.statusCode = request.url === '/ready' ? status : 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const script = (test[3] as string).replace('127.0.0.1:8080', `127.0.0.1:${port}`);
      assert.notEqual(script, test[3], 'the check targets 127.0.0.1:8080');
      assert.equal((await runAsync(process.execPath, ['-e', script])).code, 0);
      status = 503;
      assert.equal((await runAsync(process.execPath, ['-e', script])).code, 1);
    } finally {
      server.close();
    }
  });
});
