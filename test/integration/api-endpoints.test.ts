import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { upsertPool } from '../../core/store/pools.ts';
import { WorkerPoolSpec } from '../../core/model/index.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { defaultRegistry } from '../../worker/executors/index.ts';
import { Worker } from '../../worker/worker.ts';
import { coreOnTestDatabase, postgresConsumer, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

type Json = Record<string, unknown> & { items?: Array<Record<string, unknown>>; nextCursor?: string | null };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('REST API endpoints', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  const call = async (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const response = await app.inject({ method: method as 'GET', url, ...(payload !== undefined ? { payload: payload as object } : {}), headers });
    return { status: response.statusCode, body: (response.body ? response.json() : undefined) as Json, headers: response.headers, raw: response.body };
  };
  before(async () => {
    env = await coreOnTestDatabase();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics: createMetrics() });
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  it('creates with PUT by name (201), replaces with PUT (200) and merge-patches with PATCH', async () => {
    const body = { type: 'noop', params: {}, schedule: '0 3 * * *', labels: { team: 'data' } };
    const created = await call('PUT', '/api/tasks/nightly', body);
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'nightly');
    const replaced = await call('PUT', '/api/tasks/nightly', { ...body, priority: 5 });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.priority, 5);
    assert.equal(replaced.body.generation, 2);
    const mismatch = await call('PUT', '/api/tasks/other', { ...body, name: 'nightly' });
    assert.equal(mismatch.status, 400);
    assert.equal((mismatch.body.errors as Array<{ path: string }>)[0]?.path, 'name');

    const patched = await app.inject({
      method: 'PATCH', url: '/api/tasks/nightly', headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ priority: null, timeoutSeconds: 60, labels: { team: null, owner: 'ops' } }),
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const task = patched.json() as { priority: number; timeoutSeconds: number; labels: Record<string, string>; schedule: string };
    assert.equal(task.priority, 0, 'null restores the default');
    assert.equal(task.timeoutSeconds, 60);
    assert.deepEqual(task.labels, { owner: 'ops' });
    assert.equal(task.schedule, '0 3 * * *', 'untouched fields stay');
    const badPatch = await call('PATCH', '/api/tasks/nightly', { timeoutSeconds: 'soon' });
    assert.equal(badPatch.status, 400);
    assert.equal((badPatch.body.errors as Array<{ path: string }>)[0]?.path, 'timeoutSeconds');
  });

  it('suspends and resumes, and keeps Kubernetes tasks read-only with a 409 naming the resource', async () => {
    await call('POST', '/api/tasks', { name: 'pausable', type: 'noop', params: {}, schedule: '@every 1h' });
    const suspended = await call('POST', '/api/tasks/pausable/suspend');
    assert.equal(suspended.body.suspend, true);
    assert.equal(suspended.body.nextScheduleTime, null);
    const resumed = await call('POST', '/api/tasks/pausable/resume');
    assert.equal(resumed.body.suspend, false);
    assert.ok(resumed.body.nextScheduleTime);

    await env.db.query(
      `INSERT INTO hg_tasks (id, namespace, name, source, spec) VALUES (gen_random_uuid(), 'team-a', 'mirrored', 'kubernetes', $1)`,
      [JSON.stringify({ type: 'noop', params: {}, timeZone: 'UTC', suspend: false, pool: 'default', shards: 1, retry: { limit: 0 }, dependsOn: [] })],
    );
    assert.equal((await call('GET', '/api/tasks/mirrored')).status, 404, "a name is looked up in the '' namespace by default");
    const read = await call('GET', '/api/tasks/mirrored?namespace=team-a');
    assert.equal(read.status, 200);
    assert.equal(read.body.namespace, 'team-a');
    for (const [method, url, payload] of [
      ['PUT', '/api/tasks/mirrored?namespace=team-a', { type: 'noop', params: {} }],
      ['PATCH', '/api/tasks/mirrored?namespace=team-a', { priority: 1 }],
      ['DELETE', '/api/tasks/mirrored?namespace=team-a', undefined],
      ['POST', '/api/tasks/mirrored/suspend?namespace=team-a', undefined],
    ] as const) {
      const refused = await call(method, url, payload);
      assert.equal(refused.status, 409, `${method} ${url}`);
      assert.equal(refused.body.code, 'HG_ERR_TASK_READ_ONLY');
      assert.match(String(refused.body.detail), /ScheduledTask team-a\/mirrored/);
    }
  });

  it('filters and pages tasks with an opaque cursor', async () => {
    for (const name of ['flt-a', 'flt-b', 'flt-c']) {
      await call('POST', '/api/tasks', { name, type: name === 'flt-b' ? 'shell' : 'noop', ...(name === 'flt-b' ? { shell: { command: ['true'] } } : { params: {} }), pool: 'fp', labels: { tier: name === 'flt-c' ? 'gold' : 'std' } });
    }
    const first = await call('GET', '/api/tasks?name=flt-&limit=2');
    assert.deepEqual(first.body.items?.map((t) => t.name), ['flt-a', 'flt-b']);
    assert.ok(first.body.nextCursor);
    const second = await call('GET', `/api/tasks?name=flt-&limit=2&cursor=${first.body.nextCursor}`);
    assert.deepEqual(second.body.items?.map((t) => t.name), ['flt-c']);
    assert.equal(second.body.nextCursor, null);
    assert.deepEqual((await call('GET', '/api/tasks?pool=fp&type=shell')).body.items?.map((t) => t.name), ['flt-b']);
    assert.deepEqual((await call('GET', '/api/tasks?label=tier=gold')).body.items?.map((t) => t.name), ['flt-c']);
    assert.deepEqual((await call('GET', '/api/tasks?name=flt&suspended=true')).body.items, []);
    const badLabel = await call('GET', '/api/tasks?label=nokey');
    assert.equal(badLabel.status, 400);
    assert.equal((badLabel.body.errors as Array<{ path: string }>)[0]?.path, 'label');
  });

  it('lists runs by status, task and pool, newest first, in keyset pages', async () => {
    await call('POST', '/api/tasks', { name: 'runner', type: 'noop', params: {}, pool: 'rp' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await call('POST', '/api/tasks/runner/trigger')).body.id));
    await env.db.query(`UPDATE hg_runs SET status = 'failed', finished_at = now() WHERE id = $1`, [ids[1]]);
    const page1 = await call('GET', '/api/task-runs?task=runner&limit=3');
    assert.deepEqual(page1.body.items?.map((r) => r.id), [ids[4], ids[3], ids[2]]);
    const page2 = await call('GET', `/api/task-runs?task=runner&limit=3&cursor=${page1.body.nextCursor}`);
    assert.deepEqual(page2.body.items?.map((r) => r.id), [ids[1], ids[0]]);
    assert.equal(page2.body.nextCursor, null);
    assert.deepEqual((await call('GET', '/api/task-runs?status=failed&pool=rp')).body.items?.map((r) => r.id), [ids[1]]);
    assert.equal((await call('GET', '/api/task-runs?status=queued,failed&pool=rp')).body.items?.length, 5);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await call('GET', `/api/task-runs?pool=rp&from=${encodeURIComponent(future)}`)).body.items?.length, 0);
    const bad = await call('GET', '/api/task-runs?status=exploded');
    assert.equal(bad.status, 400);
    assert.equal((bad.body.errors as Array<{ path: string }>)[0]?.path, 'status');

    const task = (await call('GET', '/api/tasks/runner')).body;
    const lastRun = task.lastRun as { id: string; status: string; scheduledTime: string; taskName: string; output: unknown };
    assert.equal(lastRun.id, ids[4], 'the newest run comes with the task');
    assert.equal(lastRun.taskName, 'runner');
    assert.equal(lastRun.scheduledTime, new Date(lastRun.scheduledTime).toISOString());
    assert.equal(lastRun.output, null);
    const listed = (await call('GET', '/api/tasks?name=runner')).body.items?.[0]?.lastRun as { id: string } | null;
    assert.equal(listed?.id, ids[4], 'lists carry each task\'s newest run too');
    const stats = await call('GET', '/api/tasks/runner/stats?days=1');
    assert.equal(stats.body.total, 5);
    assert.deepEqual(stats.body.byStatus, { failed: 1, queued: 4 });
    assert.equal(stats.body.successRate, 0);
  });

  it('cancels an active run (then 409) and retries a cancelled one as a new, durable attempt', async () => {
    await call('POST', '/api/tasks', { name: 'retryable', type: 'noop', params: {}, pool: 'nobody-consumes' });
    const run = (await call('POST', '/api/tasks/retryable/trigger')).body;
    assert.equal((await call('POST', `/api/task-runs/${run.id}/retry`)).status, 409, 'an active run is not retried');
    const cancelled = await call('POST', `/api/task-runs/${run.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    const again = await call('POST', `/api/task-runs/${run.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'HG_ERR_RUN_NOT_ACTIVE');
    const retry = await call('POST', `/api/task-runs/${run.id}/retry`);
    assert.equal(retry.status, 201);
    assert.equal(retry.body.trigger, 'retry');
    assert.equal(retry.body.attempt, 2);
    assert.equal(retry.body.scheduledTime, run.scheduledTime);
    const { rows } = await env.db.query<{ status: string }>('SELECT status FROM hg_runs WHERE id = $1', [retry.body.id]);
    assert.equal(rows[0]?.status, 'queued', 'durable before the answer');
    assert.equal((await call('POST', `/api/task-runs/${run.id}/retry`)).status, 409, 'the new attempt is still active');
  });

  it('serves log chunks, and follows them as server-sent events until the run ends', async () => {
    await call('POST', '/api/tasks', { name: 'chatty-logs', type: 'noop', params: {}, pool: 'nobody-consumes' });
    const run = (await call('POST', '/api/tasks/chatty-logs/trigger')).body;
    const runId = String(run.id);
    await applyStatusEvents(env.ctx, [
      { kind: 'started', runId, attempt: 1, workerId: 'w-logs', at: new Date().toISOString() },
      { kind: 'log', runId, attempt: 1, seq: 0, stream: 'stdout', chunk: 'hello ' },
      { kind: 'log', runId, attempt: 1, seq: 1, stream: 'stderr', chunk: 'oops' },
    ]);
    const logs = await call('GET', `/api/task-runs/${runId}/logs`);
    assert.equal(logs.body.status, 'running');
    assert.deepEqual((logs.body.items as Array<{ chunk: string; stream: string }>).map((c) => [c.stream, c.chunk]), [['stdout', 'hello '], ['stderr', 'oops']]);
    assert.equal((await call('GET', `/api/task-runs/${runId}/logs?after=0`)).body.items?.length, 1);

    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const response = await fetch(`http://127.0.0.1:${port}/api/task-runs/${runId}/logs?follow=true&after=0`);
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    setTimeout(() => {
      void applyStatusEvents(env.ctx, [
        { kind: 'log', runId, attempt: 1, seq: 2, stream: 'stdout', chunk: 'world' },
        { kind: 'finished', runId, attempt: 1, workerId: 'w-logs', at: new Date().toISOString(), status: 'succeeded', exitCode: 0, output: 'hello world' },
      ]);
    }, 300);
    const text = await response.text();
    assert.match(text, /event: log\nid: 1|id: 1\nevent: log/);
    assert.match(text, /"chunk":"world"/);
    assert.doesNotMatch(text, /"chunk":"hello "/, 'after=0 skips seq 0');
    assert.match(text, /event: end\ndata: \{"runId":"\d+","status":"succeeded"\}/);
  });

  it('lists pools: declared ones with their spec, and those only seen in runs or workers', async () => {
    const put = await call('PUT', '/api/pools/gpu', { concurrency: 2, replicas: { min: 0, max: 4 }, labels: { hw: 'a100' } });
    assert.equal(put.status, 201);
    assert.equal((put.body.spec as { concurrency: number }).concurrency, 2);
    assert.equal((await call('PUT', '/api/pools/gpu', { concurrency: 3 })).status, 200);
    const invalid = await call('PUT', '/api/pools/gpu', { concurrency: 0, replicas: { min: 5, max: 1 } });
    assert.equal(invalid.status, 400);
    assert.deepEqual((invalid.body.errors as Array<{ path: string }>).map((e) => e.path).sort(), ['concurrency', 'replicas.min']);
    await upsertPool(env.db, { namespace: 'infra', name: 'kpool', source: 'kubernetes', spec: WorkerPoolSpec.parse({}) });

    const pools = (await call('GET', '/api/pools')).body.items ?? [];
    const byName = new Map(pools.map((p) => [`${String(p.namespace ?? '')}/${String(p.name)}`, p]));
    assert.equal(byName.get('/gpu')?.declared, true);
    assert.equal((byName.get('/gpu')?.spec as { concurrency: number }).concurrency, 3);
    assert.equal(byName.get('/rp')?.declared, false, 'a pool seen only in runs is listed');
    assert.equal(byName.get('/rp')?.backlog, 4);
    assert.equal(byName.get('infra/kpool')?.source, 'kubernetes');
    assert.equal((await call('PUT', '/api/pools/kpool?namespace=infra', {})).status, 409);
    assert.equal((await call('GET', '/api/pools/rp')).body.backlog, 4);
    assert.equal((await call('DELETE', '/api/pools/gpu')).status, 204);
    assert.equal((await call('GET', '/api/pools/gpu')).status, 404);
  });

  it('lists workers and drains one over the queue: it stops taking runs and reports DRAINING', async () => {
    const consumer = postgresConsumer(env.ctx, 'drain-me');
    const worker = new Worker(consumer, defaultRegistry(), { workerId: 'drain-me', pool: 'drain-pool', concurrency: 2, heartbeatIntervalMs: 200, drainTimeoutMs: 1000, outputLimitBytes: 4096, version: 't', pollWaitMs: 100 }, silentLogger);
    await worker.start();
    try {
      const listed = await waitFor('the worker row', async () => {
        const items = (await call('GET', '/api/workers?status=ALIVE&pool=drain-pool')).body.items ?? [];
        return items.length > 0 ? items : undefined;
      });
      assert.equal(listed[0]?.id, 'drain-me');
      assert.equal((await call('GET', '/api/workers/drain-me')).body.pool, 'drain-pool');
      assert.equal((await call('GET', '/api/workers/drain-me/stats')).status, 200);
      const drained = await call('POST', '/api/workers/drain-me/drain');
      assert.equal(drained.status, 202);
      assert.equal(drained.body.status, 'DRAINING');
      await waitFor('the worker to confirm DRAINING', async () => {
        const { rows } = await env.db.query<{ status: string }>(`SELECT status FROM hg_workers WHERE id = 'drain-me'`);
        return rows[0]?.status === 'DRAINING' && worker.activeRuns === 0 ? true : undefined;
      });
      // a run for its pool now stays queued: the drained worker no longer takes work
      await call('POST', '/api/tasks', { name: 'after-drain', type: 'noop', params: {}, pool: 'drain-pool' });
      const run = (await call('POST', '/api/tasks/after-drain/trigger')).body;
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal((await call('GET', `/api/task-runs/${run.id}`)).body.status, 'queued');
      assert.equal((await call('GET', '/api/workers?status=DRAINING')).body.items?.[0]?.id, 'drain-me');
    } finally {
      await worker.stop();
      await consumer.close();
    }
    assert.equal((await call('POST', '/api/workers/nobody/drain')).status, 404);
  });

  it('reports readiness, detailed health, stats and info', async () => {
    const ready = await call('GET', '/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    const health = await call('GET', '/api/system/health/detailed');
    const components = health.body.components as Record<string, { ok: boolean; reason?: string; latencyMs: number }>;
    assert.equal(components.database?.ok, true);
    assert.equal(components.dispatcher?.ok, false, 'no dispatcher runs in this test');
    assert.match(String(components.dispatcher?.reason), /leadership/);
    assert.equal(health.status, 503);
    const stats = await call('GET', '/api/system/stats');
    assert.ok((stats.body.tasks as { total: number }).total >= 1);
    const info = await call('GET', '/api/system/info');
    assert.equal(info.body.version, 'test');
    assert.equal(info.body.queue, 'postgres');
    assert.equal((await call('POST', '/api/system/reload-config')).body.code, 'HG_ERR_RELOAD_UNAVAILABLE');
  });
});
