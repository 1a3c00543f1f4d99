import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { MAX_STREAMS_PER_CLIENT } from '../../api/stream-slots.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { createHttpExecutor } from '../../worker/executors/index.ts';

/** these tests' http target listens on loopback, which the egress policy refuses unless allowed */
const LOCAL_TEST_SERVER = { egress: { allow: ['127.0.0.1'], allow_private_networks: false } };
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { waitFor } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';

// issue 13 items 3 and 12: values that once made 500s, an invalid date deep in outcome handling (and a
// status loop stuck for every worker), or a forged run id; each is now a 400 that names its field.

const skip = await skipUnless('postgres');

interface Problem { status: number; code: string; errors?: Array<{ path: string; message: string }> }

describe('hostile task specs and queries', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  const shell = { name: 'hostile', type: 'shell', shell: { command: ['true'] } };
  const create = (body: object | string) =>
    app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  const expectField = async (body: object | string, path: string | RegExp, what: string) => {
    const response = await create(body);
    assert.equal(response.statusCode, 400, `${what}: ${response.body.slice(0, 300)}`);
    const problem = response.json() as Problem;
    assert.equal(problem.code, 'HG_ERR_VALIDATION', what);
    const paths = (problem.errors ?? []).map((e) => e.path);
    assert.ok(paths.some((p) => (typeof path === 'string' ? p === path : path.test(p))), `${what}: expected an error at ${String(path)}, got ${JSON.stringify(problem.errors)}`);
  };

  it('bounds every number of the spec (backoff 1e308 once stopped status for every worker)', async () => {
    const cases: Array<[object, string]> = [
      [{ retry: { limit: 3, backoff: { initialSeconds: 1e308 } } }, 'retry.backoff.initialSeconds'],
      [{ retry: { backoff: { maxSeconds: 1e12 } } }, 'retry.backoff.maxSeconds'],
      [{ retry: { backoff: { factor: 1e6 } } }, 'retry.backoff.factor'],
      [{ retry: { limit: 1e9 } }, 'retry.limit'],
      [{ timeoutSeconds: 1e15 }, 'timeoutSeconds'],
      [{ shards: 1e7 }, 'shards'],
      [{ startingDeadlineSeconds: 1e12 }, 'startingDeadlineSeconds'],
      [{ history: { successfulRunsLimit: 1e9 } }, 'history.successfulRunsLimit'],
      [{ jitterSeconds: 1e9 }, 'jitterSeconds'],
      [{ maxCatchUp: 1e9 }, 'maxCatchUp'],
      [{ schedule: `@every ${'9'.repeat(300)}s` }, 'schedule'],
      [{ labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'])) }, 'labels'],
      [{ shell: { command: Array.from({ length: 1001 }, () => 'x') } }, 'shell.command'],
      [{ shell: { command: ['echo', 'x'.repeat(70_000)] } }, 'shell.command[1]'],
      [{ shell: { command: ['true'], env: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`E${i}`, 'v'])) } }, 'shell.env'],
      [{ shell: { command: ['true'], env: { 'A=B': 'x' } } }, 'shell.env'],
    ];
    for (const [patch, path] of cases) await expectField({ ...shell, ...patch }, path, path);
    await expectField({ ...shell, schedule: '@every 99999999999999999999d' }, 'schedule', 'an @every beyond any date');
    await expectField({ ...shell, schedule: '@every 36525000d' }, 'schedule', 'an @every of 100,000 years');
    const cleanup = await app.inject({ method: 'POST', url: '/api/system/data/cleanup', payload: { olderThan: '99999999999999999999d', dryRun: true } });
    assert.equal(cleanup.statusCode, 400, `cleanup olderThan beyond any date was a 500: ${cleanup.body}`);
    assert.equal((cleanup.json() as Problem).errors?.[0]?.path, 'olderThan');
    const http = { name: 'hostile-http', type: 'http', http: { url: 'https://example.com/' } };
    await expectField({ ...http, http: { url: `https://example.com/${'a'.repeat(9000)}` } }, 'http.url', 'url length');
    await expectField({ ...http, http: { url: 'https://example.com/', headers: { 'x-big': 'v'.repeat(9000) } } }, /^http\.headers/, 'header size');
    await expectField({ ...http, http: { url: 'https://example.com/', body: 'b'.repeat(1_048_577) } }, 'http.body', 'body size');
    assert.equal((await app.inject({ url: '/api/tasks/hostile' })).statusCode, 404, 'none of them was stored');
  });

  it('refuses NUL and lone surrogates in labels, env and arguments, naming the field', async () => {
    // raw JSON: "\ud800" parses to a lone surrogate, which Postgres and JSON encoders refuse downstream
    const raw = (json: string) => json;
    await expectField(raw(`{"name":"nul","type":"shell","shell":{"command":["echo","a\\u0000b"]}}`), 'shell.command[1]', 'NUL in an argument');
    await expectField(raw(`{"name":"nul","type":"shell","shell":{"command":["true"],"env":{"A":"\\u0000"}}}`), 'shell.env.A', 'NUL in an env value');
    await expectField(raw(`{"name":"nul","type":"shell","shell":{"command":["true"],"env":{"A\\u0000":"x"}}}`), /^shell\.env/, 'NUL in an env name');
    await expectField(raw(`{"name":"sur","type":"shell","shell":{"command":["echo","\\ud800"]}}`), 'shell.command[1]', 'lone high surrogate');
    await expectField(raw(`{"name":"sur","type":"shell","shell":{"command":["true"]},"labels":{"team":"\\udc00"}}`), 'labels.team', 'lone low surrogate in a label');
    await expectField(raw(`{"name":"sur","type":"noop","params":{"k":"\\ud800"}}`), 'params.k', 'lone surrogate in params');
    const fine = await create(raw(`{"name":"emoji","type":"shell","shell":{"command":["echo","\\ud83d\\ude00"]},"labels":{"team":"caf\\u00e9"}}`));
    assert.equal(fine.statusCode, 201, `a surrogate pair is fine: ${fine.body}`);
  });

  it('refuses NUL and lone surrogates in paths, queries and any body, naming the parameter (they made Postgres fail: 500)', async () => {
    const cases: Array<[string, string]> = [
      ['/api/tasks?namespace=%00', 'namespace'], ['/api/tasks/a%00b', 'id'], ['/api/tasks?name=%00', 'name'],
      ['/api/task-runs?task=%00', 'task'], ['/api/tasks?label=a%3D%00', 'label'], ['/api/pools/%00', 'name'],
      ['/api/workers/%00', 'id'], ['/api/task-runs?pool=x&pool=%00', 'pool'],
    ];
    for (const [url, field] of cases) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
      assert.deepEqual((response.json() as Problem).errors?.map((e) => e.path), [field], url);
    }
    const badUrl = await app.inject({ url: '/api/tasks/%ED%A0%80' });
    assert.equal(badUrl.statusCode, 400);
    assert.match(String(badUrl.headers['content-type']), /problem\+json/, 'a malformed URL is a problem like the rest');
    const pool = await app.inject({ method: 'PUT', url: '/api/pools/p1', headers: { 'content-type': 'application/json' }, payload: '{"description":"a\\u0000b"}' });
    assert.equal(pool.statusCode, 400, pool.body);
    assert.equal((pool.json() as Problem).errors?.[0]?.path, 'description');
  });

  it('refuses params nested 5,000 deep, naming params', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    await expectField(`{"name":"deep","type":"noop","params":${deep}}`, /^params/, 'params 5,000 deep');
    const ok = await create({ name: 'shallow', type: 'noop', params: { a: { b: { c: [1, 2, { d: 'x' }] } } } });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('refuses dates outside 1970..9999 in queries, naming the parameter', async () => {
    for (const [url, field] of [['/api/task-runs?from=0000-01-01T00:00:00Z', 'from'], ['/api/task-runs?to=0000-01-01T00:00:00Z', 'to']] as const) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 400, response.body);
      assert.ok((response.json() as Problem).errors?.some((e) => e.path === field), response.body);
    }
    assert.equal((await app.inject({ url: '/api/task-runs?from=2026-01-01T00:00:00Z' })).statusCode, 200);
    // a log sequence number beyond the column's integer range reached Postgres: 500
    assert.equal((await create({ name: 'logs-target', type: 'noop', params: {} })).statusCode, 201);
    const run = (await app.inject({ method: 'POST', url: '/api/tasks/logs-target/trigger' })).json() as { id: string };
    const after = await app.inject({ url: `/api/task-runs/${run.id}/logs?after=100000000000000000000` });
    assert.equal(after.statusCode, 400, after.body);
    assert.equal((after.json() as Problem).errors?.[0]?.path, 'after');
  });

  it('replaces a spec\'s X-Hourglass-Run-Id (in any case) with the real one, never merges them', async () => {
    let seen: IncomingHttpHeaders = {};
    const server = createServer((request, response) => {
      seen = request.headers;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const headers = { 'x-hourglass-run-id': 'someone-elses-run', 'X-HOURGLASS-SHARD-INDEX': '7', 'X-Other': 'kept' };
      const created = await create({ name: 'forger', type: 'http', http: { url, headers } });
      assert.equal(created.statusCode, 201, created.body);
      const result = await createHttpExecutor(LOCAL_TEST_SERVER).execute({ http: { url, headers } }, {
        runId: '42', attempt: 1, taskName: 'forger', shard: 0, shardTotal: 1, scheduledTime: new Date().toISOString(),
        timeoutMs: 5_000, signal: new AbortController().signal, outputLimitBytes: 1024,
      });
      assert.equal(result.status, 'succeeded', String(result.error));
      assert.equal(seen['x-hourglass-run-id'], '42');
      assert.equal(seen['x-hourglass-shard-index'], '0');
      assert.equal(seen['x-other'], 'kept');
    } finally {
      server.close();
    }
  });

  it('caps the log streams one client holds open', async () => {
    const created = await create({ name: 'streamed', type: 'noop', params: {} });
    assert.equal(created.statusCode, 201, created.body);
    // no worker here: the run stays queued and its stream stays open
    const run = (await app.inject({ method: 'POST', url: '/api/tasks/streamed/trigger' })).json() as { id: string };
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/api/task-runs/${run.id}/logs?follow=true`;
    const open: AbortController[] = [];
    try {
      for (let i = 0; i < MAX_STREAMS_PER_CLIENT; i++) {
        const controller = new AbortController();
        open.push(controller);
        assert.equal((await fetch(url, { signal: controller.signal })).status, 200, `stream ${i + 1}`);
      }
      const refused = await fetch(url);
      assert.equal(refused.status, 429);
      assert.equal(((await refused.json()) as Problem).code, 'HG_ERR_STREAMS_LIMIT');
      open.shift()?.abort();
      // the server notices the closed socket at its next poll and gives the slot back
      await waitFor(async () => {
        const again = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        if (again?.status !== 200) return false;
        const controller = new AbortController();
        open.push(controller);
        await again.body?.cancel();
        return true;
      }, 5_000, 100, 'a slot to free up');
    } finally {
      for (const controller of open) controller.abort();
    }
  });
});
