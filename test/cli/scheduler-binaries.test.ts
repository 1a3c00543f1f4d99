import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { REDACTED } from '../../core/config/index.ts';
import { skipUnless, SERVICE_URLS } from '../support/services.ts';
import { backendEnv, freePort, REPO_ROOT, startProcess, tracked, useE2eWorld, type FailureFlag } from '../support/processes.ts';
import { runBin, SCHEDULER_BIN, show } from './cli-support.ts';

const bin = (name: string) => path.join(REPO_ROOT, 'cli', 'bin', `${name}.ts`);
const PRODUCTION_ENV = {
  ENVIRONMENT: 'production',
  MESSAGE_QUEUE_URL: 'amqp://guest:guest@127.0.0.1:5672',
  JWT_SECRET: 'cli-test-secret-0123456789abcdefghijklmnop',
  FRONTEND_URL: 'https://ui.example.com',
};

describe('scheduler, scheduler-api, -dispatcher, -worker: config, migrations, exit codes, shutdown', { skip: await skipUnless('postgres') }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  const env = () => ({ ...backendEnv('postgres', world.db.url, SERVICE_URLS), API_KEYS: undefined, JWT_SECRET: undefined });
  const scheduler = (args: string[], extraEnv: Record<string, string | undefined> = {}) => runBin(SCHEDULER_BIN, args, { env: { ...env(), ...extraEnv } });

  it('config validate lists every problem with its key and file (exit 1), or prints one summary line (exit 0)', tracked(flag, async () => {
    const bad = path.join(world.tmp.dir, 'bad.toml');
    writeFileSync(bad, '[database]\nmax_connections = "lots"\n\n[dispatcher]\nschedule_interval_seconds = -5\n');
    const refused = await scheduler(['config', 'validate', '--file', bad]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /^invalid configuration: 2 problems$/m);
    assert.match(refused.stderr, /^ {2}database\.max_connections: in .*bad\.toml: /m);
    assert.match(refused.stderr, /^ {2}dispatcher\.schedule_interval_seconds: in .*bad\.toml: /m);
    const unknown = path.join(world.tmp.dir, 'unknown.toml');
    writeFileSync(unknown, '[worker]\nmax_concurent_tasks = 3\n');
    const typo = await scheduler(['config', 'validate', '--file', unknown]);
    assert.equal(typo.code, 1, show(typo));
    assert.match(typo.stderr, /worker\.max_concurent_tasks: in .*unknown\.toml: unknown key/);

    const good = path.join(world.tmp.dir, 'good.toml');
    writeFileSync(good, '[worker]\nmax_concurrent_tasks = 3\n');
    const accepted = await scheduler(['config', 'validate', '--file', good]);
    assert.equal(accepted.code, 0, show(accepted));
    assert.equal(accepted.stdout.trim().split('\n').length, 1);
    assert.match(accepted.stdout, /^ok: environment development, \d+ sources .*good\.toml/);
  }));

  it('config show prints the effective config as TOML or JSON with secrets redacted', tracked(flag, async () => {
    const secretEnv = { API_KEYS: '{"very-secret-key": ["Admin"]}', JWT_SECRET: 'a-jwt-secret-that-must-not-leak-000000' };
    const toml = await scheduler(['config', 'show'], secretEnv);
    assert.equal(toml.code, 0, show(toml));
    const parsed = parseToml(toml.stdout) as { api: { auth: { jwt_secret: string; api_keys: Record<string, unknown> } }; database: { url: string } };
    assert.equal(parsed.api.auth.jwt_secret, REDACTED);
    assert.doesNotMatch(toml.stdout, /very-secret-key|must-not-leak/);
    const asJson = await scheduler(['config', 'show', '-o', 'json'], secretEnv);
    assert.equal(JSON.parse(asJson.stdout).api.auth.jwt_secret, REDACTED);
  }));

  it('migrate run, info, and reset (development only)', tracked(flag, async () => {
    const run = await scheduler(['migrate', 'run']);
    assert.equal(run.code, 0, show(run));
    assert.match(run.stdout, /^applied migrations: 1, 2/);
    assert.equal((await scheduler(['migrate', 'run'])).stdout, 'database is up to date\n');
    const info = await scheduler(['migrate', 'info']);
    assert.match(info.stdout, /^0001 {2}init\s+\d{4}-/m);
    assert.doesNotMatch(info.stdout, /pending/);

    await world.sql.query(`INSERT INTO hg_tasks (id, name, spec) VALUES (gen_random_uuid(), 'doomed', '{}')`);
    const refused = await scheduler(['migrate', 'reset'], PRODUCTION_ENV);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /refused in environment "production"/);
    assert.equal((await world.sql.query('SELECT 1 FROM hg_tasks')).rowCount, 1, 'nothing was dropped');
    const reset = await scheduler(['migrate', 'reset']);
    assert.equal(reset.code, 0, show(reset));
    assert.equal((await world.sql.query('SELECT 1 FROM hg_tasks')).rowCount, 0, 'the tables were recreated empty');
  }));

  it('an unusable database, broker or config exits with its own code and one line; the stack only at debug', tracked(flag, async () => {
    const port = await freePort();
    const noDb = await scheduler(['--mode', 'api'], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/nope` });
    assert.equal(noDb.code, 4, show(noDb));
    assert.match(noDb.stderr, /^scheduler: cannot use the database at 127\.0\.0\.1:\d+\/nope: /m);
    assert.doesNotMatch(noDb.stderr, /\n\s+at /);
    const debug = await scheduler(['--mode', 'api', '--log-level', 'debug'], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/nope`, LOG_FORMAT: 'json' });
    assert.equal(debug.code, 4);
    assert.match(debug.stderr, /\n\s+at /, 'debug shows the stack');

    const noBroker = await scheduler(['--mode', 'dispatcher'], { MESSAGE_QUEUE_TYPE: 'redis_stream', MESSAGE_QUEUE_URL: `redis://127.0.0.1:${port}/0` });
    assert.equal(noBroker.code, 5, show(noBroker));
    // the address, and what happened rather than the client library's option name
    assert.match(noBroker.stderr, new RegExp(`^scheduler: cannot use the message broker \\(redis_stream at 127\\.0\\.0\\.1:${port}\\): not reachable`, 'm'));
    assert.doesNotMatch(noBroker.stderr, /maxRetriesPerRequest/);

    const badConfig = path.join(world.tmp.dir, 'bad-start.toml');
    writeFileSync(badConfig, '[api]\nbind_address = 8080\n');
    const noConfig = await scheduler(['--mode', 'api', '--config', badConfig]);
    assert.equal(noConfig.code, 3, show(noConfig));
    assert.match(noConfig.stderr, /^scheduler: invalid configuration: api\.bind_address: in .*bad-start\.toml/m);
    const usage = await scheduler(['--mode', 'everything']);
    assert.equal(usage.code, 2, 'a usage error, refused before anything starts');
    assert.match(usage.stderr, /argument 'everything' is invalid/);
  }));

  it('scheduler-api, scheduler-dispatcher and scheduler-worker --worker-id start and stop cleanly on SIGTERM and SIGINT', tracked(flag, async () => {
    const port = await freePort();
    const common = { ...env(), API_BIND_ADDRESS: `127.0.0.1:${port}` };
    const api = startProcess({ name: 'api', script: bin('scheduler-api'), args: [], env: common });
    const dispatcher = startProcess({ name: 'dispatcher', script: bin('scheduler-dispatcher'), args: [], env: common });
    const worker = startProcess({ name: 'worker', script: bin('scheduler-worker'), args: ['--worker-id', 'cli-worker-7', '--pool', 'cli-pool'], env: common });
    await api.waitForLine(/API listening/, 30_000);
    await dispatcher.waitForLine(/"msg":"dispatcher started"/, 30_000);
    const started = JSON.parse(await worker.waitForLine(/"msg":"worker started"/, 30_000)) as { workerId: string; pool: string; mode: string };
    assert.deepEqual([started.workerId, started.pool, started.mode], ['cli-worker-7', 'cli-pool', 'worker']);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);

    api.kill('SIGTERM');
    dispatcher.kill('SIGINT');
    worker.kill('SIGTERM');
    for (const proc of [api, dispatcher, worker]) assert.deepEqual(await proc.waitForExit(30_000), { code: 0, signal: null }, proc.name);
  }));
});
