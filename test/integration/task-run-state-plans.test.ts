/**
 * A task's run state (what a ScheduledTask's status shows: last success, active runs, last finished run)
 * comes from the task's own runs, however long the history of the others. Read with `max(finished_at)` and
 * `ORDER BY finished_at DESC LIMIT 1` over hg_runs, the planner walked hg_runs_finished backwards from the
 * newest run of any task until it met one of this task's: for a task that last ran long ago, every run
 * finished since (1,000,000 runs: 270 ms a task; the operator reads this for every status it writes).
 * Counted, not timed: Postgres's index scan counters on the one connection the test uses.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../core/store/db.ts';
import { taskRunState, taskRunStates } from '../../core/store/task-run-states.ts';
import { migratedTestDatabase } from '../support/core.ts';
import { totalIndexScans } from '../support/index-scans.ts';
import { skipUnless } from '../support/services.ts';

const OLD = '00000000-0000-0000-0000-00000000000a';

describe('task run state', { skip: await skipUnless('postgres') }, () => {
  let testDb: Awaited<ReturnType<typeof migratedTestDatabase>>;
  let db: Db;
  before(async () => {
    // one connection: the statistics flush and the statements counted on the same backend
    testDb = await migratedTestDatabase(1);
    db = testDb.db;
    const spec = JSON.stringify({ schedule: '@every 60s', pool: 'default', type: 'noop' });
    await db.query(`INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), 'busy-' || n, $1::jsonb FROM generate_series(1, 100) AS n`, [spec]);
    await db.query(`INSERT INTO hg_tasks (id, name, spec) VALUES ($1, 'monthly', $2::jsonb)`, [OLD, spec]);
    // the monthly task: 30 runs long ago, the last one failed; one run queued now
    await db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at, finished_at)
       SELECT $1, '2025-01-01'::timestamptz + make_interval(days => k), 'schedule', CASE WHEN k = 30 THEN 'failed' ELSE 'succeeded' END, 'default',
              '2025-01-01'::timestamptz + make_interval(days => k), '2025-01-01'::timestamptz + make_interval(days => k, mins => 5)
         FROM generate_series(1, 30) AS k`,
      [OLD],
    );
    await db.query(`INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool) VALUES ($1, '2026-06-01', 'schedule', 'queued', 'default')`, [OLD]);
    // every other task finished 200 runs since
    await db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at, finished_at)
       SELECT t.id, '2026-01-01'::timestamptz + make_interval(mins => k), 'schedule', 'succeeded', 'default',
              '2026-01-01'::timestamptz + make_interval(mins => k), '2026-01-01'::timestamptz + make_interval(mins => k)
         FROM hg_tasks t CROSS JOIN generate_series(1, 200) AS k WHERE t.id <> $1`,
      [OLD],
    );
    await db.query('ANALYZE hg_runs');
    await db.query('ANALYZE hg_tasks');
  });
  after(async () => {
    await testDb?.close();
  });

  const finishedIndexScans = () => totalIndexScans(db, ['hg_runs_finished']);

  it('of a task that last ran long ago: its own runs, not a walk of everything finished since', async () => {
    const before = await finishedIndexScans();
    const one = await taskRunState(db, OLD);
    const many = (await taskRunStates(db, [OLD])).get(OLD);
    assert.equal(await finishedIndexScans(), before, 'hg_runs_finished was walked');
    for (const state of [one, many]) {
      assert.equal(state?.lastSuccessfulTime?.toISOString(), '2025-01-30T00:05:00.000Z');
      assert.equal(state?.lastFinished?.status, 'failed');
      assert.equal(state?.lastFinished?.finishedAt?.toISOString(), '2025-01-31T00:05:00.000Z');
      assert.deepEqual(state?.active.map((run) => run.status), ['queued']);
    }
  });
});
