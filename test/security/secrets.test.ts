import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { redactUrl, resolveSpecSecrets } from '../../core/config/index.ts';
import { getTask } from '../../core/store/tasks.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { createHttpExecutor } from '../../worker/executors/index.ts';

/** these tests' http target listens on loopback, which the egress policy refuses unless allowed */
const LOCAL_TEST_SERVER = { egress: { allow: ['127.0.0.1'], allow_private_networks: false } };
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { waitFor } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';

// issue 13 items 9 and 11: secrets inlined in task specs were shown to every TaskRead key; references are
// resolved only on the worker. URL redaction missed passwords holding "@" or "/", and ?sslpassword=; an
// http task's error carried the raw URL; /metrics ran its queries on every scrape.

const skip = await skipUnless('postgres');

describe('secrets in task specs', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let dir: string;
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
    dir = mkdtempSync(path.join(tmpdir(), 'hg-secrets-'));
  });
  after(async () => {
    await app?.close();
    await env?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hides inline credentials from every read, and keeps them through a read-and-apply', async () => {
    const task = {
      name: 'inline-secrets', type: 'http',
      http: { url: 'https://bot:p@ss/w0rd@api.example.com/hook?sslpassword=s3cret&page=2', headers: { Authorization: 'Bearer abc.def.ghi', 'X-Api-Key': 'k-123', Accept: 'application/json' } },
    };
    assert.equal((await app.inject({ method: 'POST', url: '/api/tasks', payload: task })).statusCode, 201);
    const shellTask = { name: 'inline-env', type: 'shell', shell: { command: ['deploy', '--password=hunter2', 'postgres://u:p@ss@db/x'], env: { API_TOKEN: 't0k', MODE: 'fast' } } };
    assert.equal((await app.inject({ method: 'POST', url: '/api/tasks', payload: shellTask })).statusCode, 201);
    const reads = [
      (await app.inject({ url: '/api/tasks/inline-secrets' })).body,
      (await app.inject({ url: '/api/tasks/inline-env' })).body,
      (await app.inject({ url: '/api/tasks' })).body,
    ].join('\n');
    for (const secret of ['abc.def.ghi', 'k-123', 'p@ss', 'w0rd', 's3cret', 'hunter2', 't0k']) assert.ok(!reads.includes(secret), `${secret} is shown to TaskRead`);
    for (const kept of ['application/json', 'page=2', 'fast', 'api.example.com']) assert.ok(reads.includes(kept), `${kept} is not a secret and stays visible`);
    // what `scheduler-cli get -o yaml | apply -f -` does: the stars must not overwrite the secrets
    const shown = (await app.inject({ url: '/api/tasks/inline-secrets' })).json() as Record<string, unknown>;
    const { id: _id, source: _s, generation: _g, createdAt: _c, updatedAt: _u, nextScheduleTime: _n, lastRun: _l, ...body } = shown;
    assert.equal((await app.inject({ method: 'PUT', url: '/api/tasks/inline-secrets', payload: body })).statusCode, 200);
    const stored = await getTask(env.db, 'inline-secrets');
    assert.equal(stored.spec.http?.headers.Authorization, 'Bearer abc.def.ghi');
    assert.equal(stored.spec.http?.headers['X-Api-Key'], 'k-123');
    assert.equal(stored.spec.http?.url, task.http.url, 'the URL with its password survives the round trip');
    const shell = (await app.inject({ url: '/api/tasks/inline-env' })).json() as Record<string, unknown>;
    const { id: _i2, source: _s2, generation: _g2, createdAt: _c2, updatedAt: _u2, nextScheduleTime: _n2, lastRun: _l2, ...shellBody } = shell;
    assert.equal((await app.inject({ method: 'PUT', url: '/api/tasks/inline-env', payload: shellBody })).statusCode, 200);
    const storedShell = await getTask(env.db, 'inline-env');
    assert.deepEqual(storedShell.spec.shell?.command, shellTask.shell.command);
    assert.deepEqual(storedShell.spec.shell?.env, shellTask.shell.env);
    // a value the client really changes is taken, stars or not
    const changed = { ...shellBody, shell: { ...(shellBody.shell as object), env: { API_TOKEN: 'new-token', MODE: 'fast' } } };
    assert.equal((await app.inject({ method: 'PUT', url: '/api/tasks/inline-env', payload: changed })).statusCode, 200);
    assert.equal((await getTask(env.db, 'inline-env')).spec.shell?.env.API_TOKEN, 'new-token');
  });

  it('stores references only, and the worker resolves them from its secrets directory', async () => {
    mkdirSync(path.join(dir, 'reports-api'));
    writeFileSync(path.join(dir, 'reports-api', 'token'), 'tok-from-file\n');
    let seen: IncomingHttpHeaders = {};
    const server = createServer((request, response) => {
      seen = request.headers;
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`;
      const task = { name: 'by-reference', type: 'http', http: { url, secretHeaders: { Authorization: { secretKeyRef: { name: 'reports-api', key: 'token' }, prefix: 'Bearer ' } } } };
      assert.equal((await app.inject({ method: 'POST', url: '/api/tasks', payload: task })).statusCode, 201);
      const read = (await app.inject({ url: '/api/tasks/by-reference' })).body;
      assert.ok(!read.includes('tok-from-file'));
      const shown = (JSON.parse(read) as { http: { secretHeaders: unknown } }).http.secretHeaders;
      assert.deepEqual(shown, { Authorization: { secretKeyRef: { name: 'reports-api', key: 'token' }, prefix: 'Bearer ' } }, 'the reference is visible, it holds no secret');
      const stored = await getTask(env.db, 'by-reference');
      assert.ok(!JSON.stringify(stored).includes('tok-from-file'), 'the database never holds the value');
      const spec = resolveSpecSecrets({ http: stored.spec.http }, dir);
      const result = await createHttpExecutor(LOCAL_TEST_SERVER).execute(spec, {
        runId: '1', attempt: 1, taskName: 'by-reference', shard: 0, shardTotal: 1, scheduledTime: new Date().toISOString(),
        timeoutMs: 5_000, signal: new AbortController().signal, outputLimitBytes: 1024,
      });
      assert.equal(result.status, 'succeeded', String(result.error));
      assert.equal(seen.authorization, 'Bearer tok-from-file');
    } finally {
      server.close();
    }
    assert.throws(() => resolveSpecSecrets({ shell: { command: ['x'], secretEnv: { T: { secretKeyRef: { name: 'absent', key: 'k' } } } } }, dir), /secretKeyRef absent\/k does not exist/);
    for (const name of ['..', '../etc', 'a/b', '.hidden']) {
      const response = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'escape', type: 'shell', shell: { command: ['x'], secretEnv: { T: { secretKeyRef: { name, key: 'passwd' } } } } } });
      assert.equal(response.statusCode, 400, `${name}: ${response.body}`);
      assert.match(response.body, /shell\.secretEnv\.T\.secretKeyRef\.name/);
      assert.throws(() => resolveSpecSecrets({ shell: { secretEnv: { T: { secretKeyRef: { name, key: 'passwd' } } } } }, dir), /not a plain name/, 'the worker checks again');
    }
  });

  it('redacts URL credentials that hold "@" or "/", sslpassword, and the raw URL in an http task\'s error', async () => {
    assert.equal(redactUrl('postgres://u:p@ss@db:5432/x'), 'postgres://***@db:5432/x');
    assert.equal(redactUrl('postgres://u:pa/ss@db/x'), 'postgres://***@db/x');
    assert.equal(redactUrl('postgres://db/x?sslmode=require&sslpassword=k3y'), 'postgres://db/x?sslmode=require&sslpassword=***');
    assert.equal(redactUrl('https://ghp_token@github.com/org/repo'), 'https://***@github.com/org/repo');
    assert.equal(redactUrl('https://host:8080/p?mail=a@b.example'), 'https://host:8080/p?mail=a@b.example', 'no credentials, nothing hidden');
    const result = await createHttpExecutor(LOCAL_TEST_SERVER).execute({ http: { url: 'http://u:p@ss@127.0.0.1:9/x' } }, {
      runId: '1', attempt: 1, taskName: 't', shard: 0, shardTotal: 1, scheduledTime: new Date().toISOString(),
      timeoutMs: 5_000, signal: new AbortController().signal, outputLimitBytes: 1024,
    });
    assert.equal(result.status, 'failed');
    assert.ok(!String(result.error).includes('p@ss') && !String(result.error).includes(':p@'), String(result.error));
  });

  it('reads the cluster gauges of /metrics at most once per interval however often it is scraped', async () => {
    let queries = 0;
    const query = env.db.query.bind(env.db);
    env.db.query = ((...args: Parameters<typeof query>) => {
      if (/hg_workers/.test(String(args[0]))) queries++;
      return query(...args);
    }) as typeof query;
    env.clock.ms = Date.now();
    try {
      const scraper = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
      const scrapes = await Promise.all(Array.from({ length: 30 }, () => scraper.inject({ url: '/metrics' })));
      assert.ok(scrapes.every((r) => r.statusCode === 200));
      const first = queries;
      assert.ok(first >= 1 && first <= 2, `${first} queries for 30 scrapes`);
      for (let i = 0; i < 10; i++) await scraper.inject({ url: '/metrics' });
      assert.equal(queries, first, 'within the interval nothing is read again');
      env.clock.ms += 60_000;
      // core/telemetry keeps its own one-second snapshot (real time) in front of this cache
      await waitFor(async () => (await scraper.inject({ url: '/metrics' })) && queries > first, 5_000, 100, 'a scrape after the interval to read again');
      await scraper.close();
    } finally {
      env.db.query = query;
      env.clock.ms = undefined;
    }
  });
});
