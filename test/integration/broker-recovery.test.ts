import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { reap } from '../../core/dispatch/reaper.ts';
import { createTaskFromInput, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { coreOnTestDatabase, runsOf } from '../support/core.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

describe('runs a broker lost', { skip: await skipUnless('postgres', 'redis') }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let ctx: CoreContext;
  const names = { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
  const admin = new Redis(SERVICE_URLS.redis, { protocol: 2, maxRetriesPerRequest: 2 });
  before(async () => {
    env = await coreOnTestDatabase();
    ctx = { ...env.ctx, queue: createRedisStreamProducer({ url: SERVICE_URLS.redis, names }) };
  });
  after(async () => {
    await ctx?.queue.close();
    const keys = (await admin.call('KEYS', `${names.namespace}:*`)) as string[];
    if (keys.length > 0) await admin.call('DEL', ...keys);
    await admin.quit();
    await env?.close();
  });

  it('are published again once they have waited too long in a pool whose broker queue is empty', async () => {
    const task = await createTaskFromInput(ctx, { name: 'lost', type: 'noop', params: {} });
    const run = await triggerTask(ctx, task.id);
    assert.equal(run.status, 'queued');
    assert.equal(await ctx.queue.backlog('default'), 1);
    // Redis restarts without persistence: the stream is gone, Postgres still says queued
    await admin.call('DEL', `${names.namespace}:runs:default:p0`);
    assert.equal(await ctx.queue.backlog('default'), 0);

    await reap(ctx, { workerTimeoutSeconds: 30, lostQueuedSeconds: 60 });
    assert.equal(await ctx.queue.backlog('default'), 0, 'not yet: it has waited less than lostQueuedSeconds');

    await env.db.query(`UPDATE hg_runs SET queued_at = now() - interval '2 minutes' WHERE id = $1`, [run.id]);
    await reap(ctx, { workerTimeoutSeconds: 30, lostQueuedSeconds: 60 });
    assert.equal(await ctx.queue.backlog('default'), 1, 'published again');

    // a busy pool is left alone: its backlog is not published twice
    await reap(ctx, { workerTimeoutSeconds: 30, lostQueuedSeconds: 60 });
    assert.equal(await ctx.queue.backlog('default'), 1);
    assert.deepEqual((await runsOf(env.db, task.id)).map((r) => r.status), ['queued']);
  });

  it('publish again the spec the run was made with, not the task as edited since (issue 12, defect 16)', async () => {
    const body = { name: 'edited', type: 'noop', params: { v: 'before' }, pool: 'edited' };
    const task = await createTaskFromInput(ctx, body);
    const run = await triggerTask(ctx, task.id);
    await replaceTaskFromInput(ctx, task.id, { ...body, params: { v: 'after' } });
    await admin.call('DEL', `${names.namespace}:runs:edited:p0`);
    await env.db.query(`UPDATE hg_runs SET queued_at = now() - interval '2 minutes' WHERE id = $1`, [run.id]);
    await reap(ctx, { workerTimeoutSeconds: 30, lostQueuedSeconds: 60 });
    const entries = (await admin.call('XRANGE', `${names.namespace}:runs:edited:p0`, '-', '+')) as [string, string[]][];
    assert.equal(entries.length, 1, 'published again');
    const message = JSON.parse(entries[0]?.[1][1] ?? '{}') as { runId: string; spec: { params: { v: string } } };
    assert.equal(message.runId, run.id);
    assert.deepEqual(message.spec.params, { v: 'before' });
  });
});
