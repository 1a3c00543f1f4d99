import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

describe('REST API, first slice', { skip }, () => {
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

  const shellTask = { name: 'report', type: 'shell', shell: { command: ['echo', 'hi'] } };

  for (const [what, body, path] of [
    ['an invalid cron', { ...shellTask, schedule: '61 * * * *' }, 'schedule'],
    ['an unknown time zone', { ...shellTask, schedule: '0 2 * * *', timeZone: 'Mars/Olympus' }, 'timeZone'],
    ['a missing type block', { name: 'x', type: 'shell' }, 'shell'],
    ['a mismatched type block', { name: 'x', type: 'http', shell: { command: ['true'] } }, 'http'],
    ['a negative timeout', { ...shellTask, timeoutSeconds: -1 }, 'timeoutSeconds'],
    ['an unknown field', { ...shellTask, timout: 5 }, ''],
  ] as const) {
    it(`refuses ${what} with a problem naming the field`, async () => {
      const response = await app.inject({ method: 'POST', url: '/api/tasks', payload: body });
      assert.equal(response.statusCode, 400);
      assert.match(response.headers['content-type'] as string, /application\/problem\+json/);
      const problem = response.json() as { code: string; errors: Array<{ path: string; message: string }> };
      assert.equal(problem.code, 'HG_ERR_VALIDATION');
      if (path) assert.ok(problem.errors.some((e) => e.path === path), `errors name ${path}: ${JSON.stringify(problem.errors)}`);
      else assert.match(JSON.stringify(problem.errors), /timout/);
    });
  }

  it('names every bad field in one answer, a bad cron together with a missing block', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'bad', type: 'shell', schedule: '61 * * * *' } });
    assert.equal(response.statusCode, 400);
    const paths = (response.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ['schedule', 'shell']);
  });

  it('creates, reads, replaces, triggers and deletes a task', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/tasks', payload: { ...shellTask, schedule: '0 2 * * *', timeZone: 'Asia/Shanghai' } });
    assert.equal(created.statusCode, 201);
    const task = created.json() as { id: string; name: string; nextScheduleTime: string; source: string; timeoutSeconds: number };
    assert.equal(task.source, 'api');
    assert.equal(task.timeoutSeconds, 300, 'defaults applied');
    assert.equal(new Date(task.nextScheduleTime).getUTCHours(), 18, '02:00 in Shanghai is 18:00 UTC');

    const duplicate = await app.inject({ method: 'POST', url: '/api/tasks', payload: shellTask });
    assert.equal(duplicate.statusCode, 409);

    const byName = await app.inject({ method: 'GET', url: '/api/tasks/report' });
    assert.equal((byName.json() as { id: string }).id, task.id);

    const replaced = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, payload: { ...shellTask, suspend: true } });
    assert.equal(replaced.statusCode, 200);
    assert.equal((replaced.json() as { suspend: boolean; nextScheduleTime: null }).nextScheduleTime, null);

    const trigger = await app.inject({ method: 'POST', url: '/api/tasks/report/trigger' });
    assert.equal(trigger.statusCode, 201);
    const run = trigger.json() as { id: string; status: string; trigger: string };
    assert.equal(run.trigger, 'manual');
    assert.equal(run.status, 'queued');

    const fetched = await app.inject({ method: 'GET', url: `/api/task-runs/${run.id}` });
    assert.equal((fetched.json() as { taskName: string }).taskName, 'report');
    const runs = await app.inject({ method: 'GET', url: '/api/tasks/report/runs?limit=1' });
    assert.equal((runs.json() as { items: unknown[] }).items.length, 1);

    assert.equal((await app.inject({ method: 'DELETE', url: '/api/tasks/report' })).statusCode, 204);
    const gone = await app.inject({ method: 'GET', url: '/api/tasks/report' });
    assert.equal(gone.statusCode, 404);
    assert.equal((gone.json() as { code: string }).code, 'HG_ERR_TASK_NOT_FOUND');
    // history outlives the task
    assert.equal((await app.inject({ method: 'GET', url: `/api/task-runs/${run.id}` })).statusCode, 200);
  });

  it('answers unknown routes and runs with problem+json 404', async () => {
    for (const url of ['/api/nope', '/api/task-runs/999999', '/api/task-runs/not-a-number']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.match(response.headers['content-type'] as string, /problem\+json/);
    }
  });

  it('refuses bad paging parameters naming the parameter', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/tasks?limit=0' });
    assert.equal(response.statusCode, 400);
    assert.equal((response.json() as { errors: Array<{ path: string }> }).errors[0]?.path, 'limit');
    await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'paged', type: 'noop', params: {} } });
    const cursor = await app.inject({ method: 'GET', url: '/api/tasks/paged/runs?cursor=abc' });
    assert.equal(cursor.statusCode, 400);
    assert.equal((cursor.json() as { errors: Array<{ path: string }> }).errors[0]?.path, 'cursor');
  });

  it('serves output with one run, never in run lists', async () => {
    await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'chatty', type: 'noop', params: {} } });
    const run = (await app.inject({ method: 'POST', url: '/api/tasks/chatty/trigger' })).json() as { id: string };
    await env.db.query(`UPDATE hg_runs SET status = 'succeeded', output = 'lots of output' WHERE id = $1`, [run.id]);
    assert.equal((await app.inject({ url: `/api/task-runs/${run.id}` })).json().output, 'lots of output');
    const list = (await app.inject({ url: '/api/tasks/chatty/runs' })).json() as { items: Array<{ id: string; output: unknown }> };
    assert.deepEqual(list.items.map((r) => [r.id, r.output]), [[run.id, null]]);
  });
});
