import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import { createRuns, insertRequestedRuns } from '../../core/dispatch/enqueue.ts';
import { finishAttempts } from '../../core/dispatch/outcomes.ts';
import { decidePolicies } from '../../core/dispatch/policies.ts';
import { HistoryRetention } from '../../core/dispatch/retention.ts';
import { createTaskFromInput, deleteTaskByRef, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { coreOnTestDatabase, runsOf } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

/** polls until `ready` holds (an event with no notification to await), failing after `ms` */
async function until(ready: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** issue 12 §2: each test here failed before its fix (named in the commit that made it pass). */
describe('dispatch defects of issue 12, against Postgres', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  const noop = (name: string, extra: Record<string, unknown> = {}) => createTaskFromInput(env.ctx, { name, type: 'noop', params: {}, pool: name, ...extra });
  const reasons = async (taskId: string) => {
    const { rows } = await env.db.query<{ status: string; reason: string | null }>('SELECT status, reason FROM hg_runs WHERE task_id = $1 ORDER BY scheduled_time, shard', [taskId]);
    return rows;
  };

  it('defect 2: sibling shards finishing in concurrent transactions make the dependant run, every time', async () => {
    const up = await noop('sibling-up', { shards: 2 });
    const down = await noop('sibling-down', { dependsOn: ['sibling-up'] });
    for (let trial = 0; trial < 20; trial++) {
      const created = await createRuns(env.ctx, [{ task: up, scheduledTime: new Date(Date.UTC(2026, 0, 1, 0, 0, trial)), trigger: 'manual' }]);
      assert.equal(created.length, 2);
      await Promise.all(created.map((run) => finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status: 'succeeded', at: new Date() }])));
    }
    assert.equal((await runsOf(env.db, down.id)).length, 20, 'one dependant run per fire of the upstream');
  });

  it('defect 2: a fire whose shards finish after the next fire was made still gets its dependant run', async () => {
    // what the chaos suite saw under load: the upstream's next fire is pending when this one's shards finish,
    // so judging the upstream's latest fire (not the one that finished) lost the dependant of this one
    const up = await noop('overlap-up', { shards: 2 });
    const down = await noop('overlap-down', { dependsOn: ['overlap-up'] });
    const first = await createRuns(env.ctx, [{ task: up, scheduledTime: new Date(Date.UTC(2026, 0, 3, 0, 0, 0)), trigger: 'manual' }]);
    await createRuns(env.ctx, [{ task: up, scheduledTime: new Date(Date.UTC(2026, 0, 3, 0, 0, 2)), trigger: 'manual' }]);
    for (const run of first) await finishAttempts(env.ctx, [{ runId: run.id, attempt: 1, status: 'succeeded', at: new Date() }]);
    const runs = await runsOf(env.db, down.id);
    assert.deepEqual(runs.map((r) => r.scheduled_time.toISOString()), ['2026-01-03T00:00:00.000Z'], 'one dependant run, for the fire that succeeded');
  });

  it('defect 2: two upstream tasks finishing at once make the dependant of both run', async () => {
    const left = await noop('both-left');
    const right = await noop('both-right');
    const down = await noop('both-down', { dependsOn: ['both-left', 'both-right'] });
    for (let trial = 0; trial < 10; trial++) {
      const at = new Date(Date.UTC(2026, 0, 2, 0, 0, trial));
      const [l] = await createRuns(env.ctx, [{ task: left, scheduledTime: at, trigger: 'manual' }]);
      const [r] = await createRuns(env.ctx, [{ task: right, scheduledTime: at, trigger: 'manual' }]);
      await Promise.all([l, r].map((run) => finishAttempts(env.ctx, [{ runId: run?.id as string, attempt: 1, status: 'succeeded', at: new Date() }])));
    }
    assert.equal((await runsOf(env.db, down.id)).length, 10);
  });

  it('defect 5: under Forbid, the due fires of one batch see each other (catchUp All)', async () => {
    const task = await noop('forbid-batch', { schedule: '@every 1s', concurrencyPolicy: 'Forbid', catchUp: 'All', maxCatchUp: 10 });
    const now = Math.floor(Date.now() / 1000) * 1000 + 500;
    env.clock.ms = now;
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [task.id, new Date(now - 5_500), new Date(now - 60_000)]);
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await until(async () => (await reasons(task.id)).length >= 5, 'the five fires');
    await dispatcher.stop();
    env.clock.ms = undefined;
    const rows = await reasons(task.id);
    assert.equal(rows.filter((r) => r.status === 'queued').length, 1, 'one fire runs');
    assert.equal(rows.filter((r) => r.status === 'skipped' && r.reason === 'ConcurrencyForbid').length, 4, 'the others are skipped, with the code');
  });

  it('defect 5: under Forbid, a manual run made after the slot blocks the late fire of that slot', async () => {
    const task = await noop('forbid-manual', { schedule: '@every 1s', concurrencyPolicy: 'Forbid', catchUp: 'Latest' });
    const now = Math.floor(Date.now() / 1000) * 1000 + 500;
    env.clock.ms = now;
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [task.id, new Date(now - 1_500), new Date(now - 60_000)]);
    await triggerTask(env.ctx, task.id); // at `now`, after the slot now - 500 that the dispatcher is late for
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await until(async () => (await reasons(task.id)).length >= 2, 'the late fire');
    await dispatcher.stop();
    env.clock.ms = undefined;
    const rows = await reasons(task.id);
    assert.deepEqual(rows.map((r) => [r.status, r.reason]), [['skipped', 'ConcurrencyForbid'], ['queued', null]]);
  });

  it('defect 5: a dependency run goes through concurrencyPolicy (Forbid skips it while the dependant runs)', async () => {
    const up = await noop('policy-up');
    const down = await noop('policy-down', { dependsOn: ['policy-up'], concurrencyPolicy: 'Forbid' });
    await triggerTask(env.ctx, down.id); // the dependant is busy
    const [run] = await createRuns(env.ctx, [{ task: up, scheduledTime: new Date(Date.UTC(2026, 0, 3)), trigger: 'manual' }]);
    await finishAttempts(env.ctx, [{ runId: run?.id as string, attempt: 1, status: 'succeeded', at: new Date() }]);
    const rows = await reasons(down.id);
    assert.deepEqual(rows.map((r) => [r.status, r.reason]).sort(), [['queued', null], ['skipped', 'ConcurrencyForbid']].sort());
  });

  it('defect 3: a long catch-up is written in chunks, and another task fires while it goes on', async () => {
    const big = await noop('catchup-big', { schedule: '@every 1s', catchUp: 'All', maxCatchUp: 10_000 });
    const small = await noop('catchup-small', { schedule: '@every 1s', catchUp: 'None' });
    const now = Date.now();
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [big.id, new Date(now - 3_000_000), new Date(now - 4_000_000)]);
    // the small task is due in the same first pass as the backlog
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [small.id, new Date(now - 1_500), new Date(now - 60_000)]);
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await until(async () => (await runsOf(env.db, big.id)).length >= 3000 && (await runsOf(env.db, small.id)).length > 0, 'the catch-up and the small fire', 20_000);
    await dispatcher.stop();
    const { rows } = await env.db.query<{ writes: number; runs: number; last: string }>(
      'SELECT count(DISTINCT created_at)::int AS writes, count(*)::int AS runs, max(id)::text AS last FROM hg_runs WHERE task_id = $1',
      [big.id],
    );
    assert.ok((rows[0]?.writes ?? 0) >= 6, `in chunks of at most 500 (${rows[0]?.writes} writes)`);
    const smallFirst = Math.min(...(await runsOf(env.db, small.id)).map((r) => Number(r.id)));
    assert.ok(smallFirst < Number(rows[0]?.last), 'the small task was written with the first chunk, not after the whole backlog');
  });

  it('defect 9: resuming a suspended task is not downtime: no missed records, no stale fires', async () => {
    const body = { name: 'resumed', type: 'noop', params: {}, pool: 'resumed', schedule: '@every 1s', catchUp: 'All', concurrencyPolicy: 'Allow' };
    const task = await createTaskFromInput(env.ctx, body);
    // a task that fires in the dispatcher's first pass: once its run exists, that pass is over
    const sentinel = await noop('resumed-sentinel', { schedule: '@every 1s', catchUp: 'Latest' });
    const start = Date.now();
    await replaceTaskFromInput(env.ctx, task.id, { ...body, suspend: true });
    env.clock.ms = start + 10_000; // ten seconds suspended
    await env.db.query('UPDATE hg_tasks SET schedule_anchor = $2 WHERE id = $1', [sentinel.id, new Date(start - 60_000)]);
    await replaceTaskFromInput(env.ctx, task.id, { ...body, suspend: false });
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    await dispatcher.start();
    await until(async () => (await runsOf(env.db, sentinel.id)).length > 0, "the dispatcher's first pass");
    await dispatcher.stop();
    env.clock.ms = undefined;
    const rows = await reasons(task.id);
    assert.deepEqual(rows, [], `nothing of the suspension is fired or recorded: ${JSON.stringify(rows)}`);
  });

  it('defect 10: changing a task\'s pool moves its waiting runs to the new pool', async () => {
    const body = { name: 'moving', type: 'noop', params: {}, pool: 'old-pool' };
    const task = await createTaskFromInput(env.ctx, body);
    const run = await triggerTask(env.ctx, task.id);
    await replaceTaskFromInput(env.ctx, task.id, { ...body, pool: 'new-pool' });
    const { rows } = await env.db.query<{ pool: string; status: string }>('SELECT pool, status FROM hg_runs WHERE id = $1', [run.id]);
    assert.deepEqual(rows[0], { pool: 'new-pool', status: 'queued' });
  });

  it('defect 13: workers DOWN for a day are forgotten by retention', async () => {
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await env.db.query(
      `INSERT INTO hg_workers (id, pool, status, concurrency, started_at, last_heartbeat_at) VALUES ('gone', 'p', 'DOWN', 1, $1, $1), ('recent', 'p', 'DOWN', 1, now(), now())`,
      [old],
    );
    await new HistoryRetention(env.ctx).pass();
    const { rows } = await env.db.query<{ id: string }>(`SELECT id FROM hg_workers WHERE id IN ('gone', 'recent') ORDER BY id`);
    assert.deepEqual(rows.map((r) => r.id), ['recent']);
  });

  it('a scheduled fire written from a view read before the task was suspended is not made', async () => {
    const task = await noop('suspended-under-a-tick', { schedule: '@every 1s' });
    // the dispatcher read the task (not suspended); the suspension commits before its fire does
    await replaceTaskFromInput(env.ctx, task.id, { name: 'suspended-under-a-tick', type: 'noop', params: {}, pool: 'suspended-under-a-tick', schedule: '@every 1s', suspend: true });
    await createRuns(env.ctx, [{ task, scheduledTime: new Date(Date.UTC(2026, 0, 5)), trigger: 'schedule' }]);
    assert.deepEqual((await runsOf(env.db, task.id)).filter((r) => ['pending', 'queued', 'running'].includes(r.status)), [], 'a fire from inside the suspension');
    // a retry already under way, or a manual run, is not a fire of the schedule: it is still made
    await createRuns(env.ctx, [{ task, scheduledTime: new Date(Date.UTC(2026, 0, 6)), trigger: 'manual' }]);
    assert.equal((await runsOf(env.db, task.id)).length, 1);
  });

  it('defect 14: a write of runs racing the deletion of their task leaves no active run of a deleted task', async () => {
    const task = await noop('doomed-task');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // a dispatcher's write that read the task before the delete and commits after it
    const write = env.db.transaction(async (tx) => {
      await insertRequestedRuns(env.ctx, tx, [{ task, scheduledTime: new Date(Date.UTC(2026, 0, 4)), trigger: 'schedule' }]);
      await held;
    });
    const deletion = deleteTaskByRef(env.ctx, task.id);
    // the delete either finishes (the old, racy behaviour) or waits for the write's lock
    const client = new pg.Client({ connectionString: env.url });
    await client.connect();
    for (let i = 0; i < 50; i++) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`);
      const settled = await Promise.race([deletion.then(() => true), new Promise((resolve) => setImmediate(() => resolve(false)))]);
      if (settled || rows[0].n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.end();
    release();
    await write;
    await deletion;
    const active = (await runsOf(env.db, task.id)).filter((r) => ['pending', 'queued', 'running'].includes(r.status));
    assert.deepEqual(active, []);
  });

  it('under Replace, a retry committed while the fire waited on its failing attempt is replaced too', async () => {
    // simulator seed 44: the attempt the fire replaces fails in a concurrent transaction, which commits its
    // retry with the failure; the fire's cancel waited on that row, found it failed, and the retry then ran
    // beside the new fire
    const task = await noop('replace-under-a-retry', { schedule: '@every 1s', concurrencyPolicy: 'Replace', retry: { limit: 3 } });
    const [old] = await createRuns(env.ctx, [{ task, scheduledTime: new Date(Date.UTC(2026, 0, 7, 0, 0, 0)), trigger: 'schedule' }]);
    const client = new pg.Client({ connectionString: env.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE hg_runs SET status = 'failed', finished_at = now() WHERE id = $1`, [old?.id]);
      await client.query(
        `INSERT INTO hg_runs (task_id, scheduled_time, shard, shard_total, attempt, trigger, status, pool, priority, not_before, created_at)
         VALUES ($1, $2, 0, 1, 2, 'retry', 'pending', $3, 0, now() + interval '1 second', now())`,
        [task.id, new Date(Date.UTC(2026, 0, 7, 0, 0, 0)), task.spec.pool],
      );
      const fire = env.db.transaction((tx) => decidePolicies(env.ctx, tx, [{ task, slot: Date.UTC(2026, 0, 7, 0, 0, 5) }]));
      await until(async () => {
        const { rows } = await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`);
        return rows[0]?.n === 1;
      }, 'the fire to wait on the failing attempt');
      await client.query('COMMIT');
      const { cancelled } = await fire;
      assert.deepEqual(cancelled.map((c) => c.attempt), [2], 'the retry is cancelled, the failed attempt left alone');
    } finally {
      await client.end();
    }
    const active = (await runsOf(env.db, task.id)).filter((r) => ['pending', 'queued', 'running'].includes(r.status));
    assert.deepEqual(active, []);
  });

  it('a Replace fire and the deletion of its task do not deadlock (both lock the task before its runs)', async () => {
    const task = await noop('replace-under-a-delete', { schedule: '@every 1s', concurrencyPolicy: 'Replace', catchUp: 'Latest' });
    const now = Math.floor(Date.now() / 1000) * 1000 + 500;
    await createRuns(env.ctx, [{ task, scheduledTime: new Date(now - 10_500), trigger: 'schedule' }]); // the run a fire replaces
    await env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [task.id, new Date(now - 1_500), new Date(now - 60_000)]);
    const client = new pg.Client({ connectionString: env.url });
    await client.connect();
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 100 });
    try {
      // the deletion takes the task's row first, as deleteTask does; a short deadlock_timeout makes it, not the
      // fire, the side that detects a deadlock and fails
      await client.query(`SET deadlock_timeout = '50ms'`);
      await client.query('BEGIN');
      await client.query('UPDATE hg_tasks SET deleted_at = now(), updated_at = now() WHERE id = $1', [task.id]);
      env.clock.ms = now;
      await dispatcher.start();
      await until(async () => {
        const { rows } = await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`);
        return (rows[0]?.n ?? 0) > 0;
      }, 'the fire to wait for the deletion');
      // then the deletion cancels the task's runs: a fire that already held them (Replace cancels first) deadlocked here
      await client.query(`UPDATE hg_runs SET status = 'cancelled', error = 'task deleted', reason = 'TaskDeleted' WHERE task_id = $1 AND status IN ('pending', 'queued', 'running')`, [task.id]);
      await client.query('COMMIT');
    } finally {
      await dispatcher.stop();
      env.clock.ms = undefined;
      await client.end();
    }
    const active = (await runsOf(env.db, task.id)).filter((r) => ['pending', 'queued', 'running'].includes(r.status));
    assert.deepEqual(active, [], 'no active run of the deleted task');
  });
});
