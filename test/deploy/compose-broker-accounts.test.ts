/**
 * Issue 13, item 2: the broker accounts the compose files create (deploy/brokers), loaded into real brokers
 * the way the containers load them: render.sh fills in the passwords, Redis boots with the ACL file, RabbitMQ
 * imports the definitions. Then a worker's account is refused what docs/brokers.md says it may not do.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { claimNamespace } from '../../cli/namespace-claim.ts';
import { freePort, tempDir, waitFor } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless } from '../support/services.ts';
import { repoPath, run, toolOrSkip } from './support.ts';

/** The Redis store of @fastify/rate-limit, which the API uses (api/http-options.ts); the package types only its plugin. */
interface RateLimitStore {
  incr(key: string, callback: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindowMs: number, max: number): void;
}
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key: string) => RateLimitStore;

const PASSWORDS = { BROKER_CORE_PASSWORD: randomBytes(12).toString('hex'), BROKER_WORKER_PASSWORD: randomBytes(12).toString('hex'), RABBITMQ_PASSWORD: randomBytes(12).toString('hex') };

/** deploy/brokers/render.sh, run as the broker containers run it. */
function render(template: string, output: string, env: Record<string, string>) {
  return run('sh', [repoPath('deploy', 'brokers', 'render.sh'), repoPath('deploy', 'brokers', template), output], { env: { PATH: process.env.PATH ?? '', ...env } });
}

describe('deploy/brokers/render.sh', () => {
  it('fills in the passwords, and refuses an unset or unsafe one without leaving a file behind', () => {
    const tmp = tempDir('hg-render-');
    try {
      const out = path.join(tmp.dir, 'users.acl');
      assert.equal(render('redis-users.acl', out, PASSWORDS).code, 0);
      const text = readFileSync(out, 'utf8');
      assert.ok(text.includes(`hourglass-core on >${PASSWORDS.BROKER_CORE_PASSWORD} `));
      assert.ok(text.includes(`hourglass-worker-default on >${PASSWORDS.BROKER_WORKER_PASSWORD} `));
      assert.doesNotMatch(text, /\$\{/, 'every placeholder is filled in');

      const missing = render('redis-users.acl', path.join(tmp.dir, 'missing.acl'), { BROKER_CORE_PASSWORD: 'x' });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /BROKER_WORKER_PASSWORD is not set/);
      const unsafe = render('rabbitmq-definitions.json', path.join(tmp.dir, 'unsafe.json'), { ...PASSWORDS, BROKER_CORE_PASSWORD: 'a"b c' });
      assert.equal(unsafe.code, 1);
      assert.match(unsafe.stderr, /BROKER_CORE_PASSWORD may hold only letters, digits/);
      // the compose files' development defaults are public: outside development they are refused
      const development = { BROKER_CORE_PASSWORD: 'hourglass-core-dev', BROKER_WORKER_PASSWORD: 'hourglass-worker-dev', RABBITMQ_PASSWORD: 'scheduler' };
      assert.equal(render('rabbitmq-definitions.json', path.join(tmp.dir, 'dev.json'), development).code, 0, 'development accepts them');
      const production = render('rabbitmq-definitions.json', path.join(tmp.dir, 'prod.json'), { ...development, BROKER_CORE_PASSWORD: PASSWORDS.BROKER_CORE_PASSWORD, RABBITMQ_PASSWORD: PASSWORDS.RABBITMQ_PASSWORD, ENVIRONMENT: 'production' });
      assert.equal(production.code, 1);
      assert.match(production.stderr, /BROKER_WORKER_PASSWORD is the development default; ENVIRONMENT=production needs a password of its own/);
      assert.equal(render('rabbitmq-definitions.json', path.join(tmp.dir, 'prod.json'), { ...PASSWORDS, ENVIRONMENT: 'production' }).code, 0);
      assert.deepEqual(spawnSync('ls', [tmp.dir], { encoding: 'utf8' }).stdout.trim().split('\n'), ['dev.json', 'prod.json', 'users.acl'], 'a refused render leaves no partial file');
    } finally {
      tmp.remove();
    }
  });
});

describe('the compose Redis ACL file in a real redis-server', { skip: toolOrSkip('redis-server', "Debian's redis-server package") }, () => {
  const tmp = tempDir('hg-redis-acl-');
  let port = 0;
  let server: ChildProcess | undefined;
  let output = '';
  const clients: Redis[] = [];
  const connect = (user?: string, password?: string) => {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true, ...(user ? { username: user, password } : {}) });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };

  before(async () => {
    const acl = path.join(tmp.dir, 'users.acl');
    assert.equal(render('redis-users.acl', acl, PASSWORDS).code, 0);
    // a Redis of its own: the ACL file is loaded exactly as the container loads it
    port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--aclfile', acl, '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [server.stdout, server.stderr]) stream?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    await waitFor(async () => (await connect('hourglass-core', PASSWORDS.BROKER_CORE_PASSWORD).ping().catch(() => '')) === 'PONG', 10_000, 50, 'redis-server with the ACL file')
      .catch((error: Error) => { throw new Error(`${error.message}\n${output}`); });
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    tmp.remove();
  });

  it('lets nobody in without an account, and refuses a worker what is not its pool\'s', async () => {
    await assert.rejects(connect().ping(), /NOAUTH/, 'the default user is off');
    const worker = connect('hourglass-worker-default', PASSWORDS.BROKER_WORKER_PASSWORD);
    // the forged run of issue 13: an XADD into another pool's stream
    await assert.rejects(worker.xadd('hourglass:tasks:reports:p0', '*', 'payload', '{}'), /NOPERM/);
    await assert.rejects(worker.xrange('hourglass:status_updates', '-', '+'), /NOPERM/, 'reads other workers\' status events');
    await assert.rejects(worker.publish('hourglass:tasks:cancel', '["1"]'), /NOPERM/, 'publishes cancels');
    await assert.rejects(worker.keys('*'), /NOPERM/);
    await assert.rejects(connect('hourglass-worker-default', PASSWORDS.BROKER_CORE_PASSWORD).ping(), /WRONGPASS/, 'the core\'s password is not the worker\'s');
    // what a worker does (docs/brokers.md): append status events, read its own pool's stream
    assert.match(String(await worker.xadd('hourglass:status_updates', '*', 'kind', 'heartbeat')), /^\d+-\d+$/);
    assert.deepEqual(await worker.xrange('hourglass:tasks:default:p0', '-', '+'), []);
    const core = connect('hourglass-core', PASSWORDS.BROKER_CORE_PASSWORD);
    assert.equal((await core.xrange('hourglass:status_updates', '-', '+')).length, 1, 'the core reads the status stream');
  });

  it('lets the core account do what the core does on Redis beyond the queue: the API\'s shared rate limit, the namespace claim', async () => {
    const core = connect('hourglass-core', PASSWORDS.BROKER_CORE_PASSWORD);
    // the store and key prefix api/http-options.ts gives @fastify/rate-limit (which skips the limit on a store error)
    const store = new RedisStore(false, false, core, 'hourglass-ratelimit-');
    const counted = await new Promise<{ current: number; ttl: number }>((resolve, reject) => store.incr('203.0.113.9', (error, result) => (error ? reject(error) : resolve(result)), 60_000, 10));
    assert.equal(counted.current, 1);
    const claim = await claimNamespace({ url: `redis://hourglass-core:${PASSWORDS.BROKER_CORE_PASSWORD}@127.0.0.1:${port}/0`, namespace: 'hourglass', taskQueue: 'tasks', installId: 'install-1', connectTimeoutMs: 2000, logger: pino({ level: 'silent' }) });
    assert.equal(await core.get('hourglass:tasks:install'), 'install-1');
    await claim.release();
    assert.equal(await core.get('hourglass:tasks:install'), null, 'released on stop, so another installation need not wait for it to expire');
  });
});

describe('the compose RabbitMQ definitions in the real RabbitMQ', { skip: (await skipUnless('rabbitmq')) || toolOrSkip('rabbitmqctl', "Debian's rabbitmq-server package") }, () => {
  // unique names on the shared broker: the file's users and virtual host, renamed
  const suffix = randomBytes(4).toString('hex');
  const vhost = `hourglass-${suffix}`;
  const users = { core: `hourglass-core-${suffix}`, worker: `hourglass-worker-default-${suffix}`, admin: `scheduler-${suffix}` };
  const tmp = tempDir('hg-rabbit-defs-');
  const ctl = (...args: string[]) => run('rabbitmqctl', args, { timeoutMs: 30_000 });
  const urlFor = (user: string, password: string) => {
    const url = new URL(SERVICE_URLS.rabbitmq);
    url.username = user;
    url.password = password;
    url.pathname = `/${vhost}`;
    return url.toString();
  };

  before(async () => {
    const rendered = path.join(tmp.dir, 'definitions.json');
    assert.equal(render('rabbitmq-definitions.json', rendered, PASSWORDS).code, 0);
    const text = readFileSync(rendered, 'utf8')
      .replaceAll('"hourglass-core"', `"${users.core}"`).replaceAll('"hourglass-worker-default"', `"${users.worker}"`)
      .replaceAll('"scheduler"', `"${users.admin}"`).replaceAll('"vhost": "hourglass"', `"vhost": "${vhost}"`).replace('{ "name": "hourglass" }', `{ "name": "${vhost}" }`);
    assert.ok(text.includes(vhost) && text.includes(users.worker));
    // readable by all: rabbitmqctl may run as the rabbitmq user (the passwords are this test's random ones)
    writeFileSync(rendered, text, { mode: 0o644 });
    chmodSync(rendered, 0o644);
    chmodSync(tmp.dir, 0o755);
    const imported = ctl('import_definitions', rendered);
    assert.equal(imported.code, 0, imported.stderr);
    // the import is asynchronous: wait until the worker can log in
    await waitFor(async () => amqp.connect(urlFor(users.worker, PASSWORDS.BROKER_WORKER_PASSWORD)).then((c) => c.close().then(() => true), () => false), 20_000, 200, 'the imported worker account');
  });
  after(() => {
    for (const user of Object.values(users)) ctl('delete_user', user);
    ctl('delete_vhost', vhost);
    tmp.remove();
  });

  it('gives the core its queues and refuses the worker another pool\'s queue and the status queue', async () => {
    const core = await amqp.connect(urlFor(users.core, PASSWORDS.BROKER_CORE_PASSWORD));
    try {
      const channel = await core.createChannel();
      for (const queue of ['hourglass.status_updates', 'hourglass.tasks.reports', 'hourglass.tasks.default']) await channel.assertQueue(queue);
    } finally {
      await core.close();
    }
    const refused = async (what: (channel: amqp.Channel) => Promise<unknown>, message: string) => {
      const connection = await amqp.connect(urlFor(users.worker, PASSWORDS.BROKER_WORKER_PASSWORD));
      connection.on('error', () => {});
      try {
        const channel = await connection.createChannel();
        channel.on('error', () => {});
        await assert.rejects(what(channel), /ACCESS_REFUSED/, message);
      } finally {
        await connection.close().catch(() => undefined);
      }
    };
    await refused((c) => c.consume('hourglass.tasks.reports', () => {}), 'reads another pool\'s runs');
    await refused((c) => c.consume('hourglass.status_updates', () => {}), 'reads other workers\' status events');
    await refused((c) => c.assertQueue('hourglass.tasks.evil'), 'declares queues of its own choosing');
    const worker = await amqp.connect(urlFor(users.worker, PASSWORDS.BROKER_WORKER_PASSWORD));
    try {
      const channel = await worker.createChannel();
      const { consumerTag } = await channel.consume('hourglass.tasks.default', () => {});
      assert.ok(consumerTag, 'the worker reads its own pool\'s queue');
    } finally {
      await worker.close();
    }
    await assert.rejects(amqp.connect(urlFor(users.worker, PASSWORDS.BROKER_CORE_PASSWORD)), /ACCESS_REFUSED|403/, 'the core\'s password is not the worker\'s');
  });
});
