/**
 * History retention at scale (spec.history). A pass that walked every touched task's limits in one
 * statement ran past the statement timeout at 100,000 tasks (and at 20,000 tasks of 110 runs each, 261 s: the
 * planner ran the boundary lookup once per run), so nothing was ever pruned, while it held the leader's fence.
 * Counted, not timed: transactions through the fence, and Postgres's sequential scans of hg_runs on the one
 * connection the pass uses.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { HistoryRetention } from '../../core/dispatch/retention.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import { createPostgresProducer } from '../../core/queue/postgres.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { silentLogger } from '../support/core.ts';
import { STATUS_INDEXES, totalIndexScans } from '../support/index-scans.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';

const TASKS = 450;
const RUNS_PER_TASK = 30;
const LIMITS = { successfulRunsLimit: 10, failedRunsLimit: 5 };

describe('history retention', { skip: await skipUnless('postgres') }, () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  let clockMs = Date.parse('2026-06-01T00:00:00Z');
  let fences = 0;
  let ctx: CoreContext;

  before(async () => {
    testDb = await createTestDatabase();
    // one connection: the pass and the statistics flush on the same backend
    db = await openPgDb({ url: testDb.url, maxConnections: 1, logger: silentLogger });
    await migrate(db);
    ctx = {
      db,
      logger: silentLogger,
      clock: systemClock,
      now: () => clockMs,
      queue: createPostgresProducer({ db, applyStatus: async () => {} }),
      fence: async () => {
        fences += 1;
      },
    };
  });
  after(async () => {
    await db?.close();
    await testDb?.drop();
  });

  /** `count` tasks cloned from one with these history limits, each with `runs` finished runs (every third failed) and two active ones, oldest */
  async function tasksWithHistory(prefix: string, count: number, runs: number, history: Record<string, number>, finishedAt: Date): Promise<string[]> {
    const template = await createTaskFromInput(ctx, { name: `${prefix}-0`, type: 'noop', params: {}, history });
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), $2 || '-' || n, $1::jsonb FROM generate_series(1, $3::int) AS n RETURNING id::text AS id`,
      [JSON.stringify(template.spec), prefix, count - 1],
    );
    const ids = [template.id, ...rows.map((r) => r.id)];
    await db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at, finished_at)
       SELECT t, $2::timestamptz - make_interval(hours => 1 + g), 'schedule',
              CASE WHEN g <= 2 THEN (CASE g WHEN 1 THEN 'queued' ELSE 'running' END) WHEN g % 3 = 0 THEN 'failed' ELSE 'succeeded' END,
              'default', $2::timestamptz, CASE WHEN g > 2 THEN $2::timestamptz END
         FROM unnest($1::uuid[]) AS t CROSS JOIN generate_series(1, $3::int + 2) AS g ORDER BY g, t`,
      [ids, finishedAt.toISOString(), runs],
    );
    return ids;
  }

  async function runsSeqScans(): Promise<number> {
    await db.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await db.query<{ n: string }>(`SELECT seq_scan::text AS n FROM pg_stat_user_tables WHERE relname = 'hg_runs'`);
    return Number(rows[0]?.n);
  }

  const statusIndexScans = () => totalIndexScans(db, STATUS_INDEXES);

  // first, while the tables of this database have never been analyzed (a new installation, a bulk load)
  it('with no statistics on hg_runs, reaches each task\'s runs on hg_runs_task, never through a status index', async () => {
    await db.query('ALTER TABLE hg_runs SET (autovacuum_enabled = false)');
    await db.query('ALTER TABLE hg_tasks SET (autovacuum_enabled = false)');
    const ids = await tasksWithHistory('fresh', 2000, 4, { successfulRunsLimit: 2, failedRunsLimit: 1 }, new Date(clockMs - 3_600_000));
    const before = await statusIndexScans();
    const deleted = await new HistoryRetention(ctx, { sweepPerPass: 200 }).pass();
    assert.equal(await statusIndexScans(), before, 'the pass walked a status index: every run of a status, once per task and class');
    // the first 200 tasks in id order were swept: each keeps 2 succeeded, 1 failed and its 2 active runs
    assert.equal(deleted, 200 * 1);
    const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM hg_runs WHERE task_id = ANY($1::uuid[])`, [ids]);
    assert.equal(Number(rows[0]?.n), 2000 * 6 - 200);
    // the tests below count on the tables as they leave them
    await db.query('DELETE FROM hg_runs WHERE task_id = ANY($1::uuid[])', [ids]);
    await db.query('DELETE FROM hg_tasks WHERE id = ANY($1::uuid[])', [ids]);
    await db.query('ALTER TABLE hg_runs RESET (autovacuum_enabled)');
    await db.query('ALTER TABLE hg_tasks RESET (autovacuum_enabled)');
  });

  it('keeps each task\'s newest runs per class and its active ones, in transactions of 200 tasks, reaching runs by index only', async () => {
    await tasksWithHistory('many', TASKS, RUNS_PER_TASK, LIMITS, new Date(clockMs - 3_600_000));
    await db.query('ANALYZE hg_runs');
    // what must stay: per task and class the newest runs up to the limit, and every active run
    const { rows: expected } = await db.query<{ id: string }>(
      `SELECT id::text AS id FROM (
         SELECT id, status, row_number() OVER (PARTITION BY task_id, status = 'succeeded' ORDER BY id DESC) AS n FROM hg_runs) AS r
        WHERE status IN ('queued', 'running') OR n <= CASE WHEN status = 'succeeded' THEN $1::int ELSE $2::int END ORDER BY id`,
      [LIMITS.successfulRunsLimit, LIMITS.failedRunsLimit],
    );
    const seqBefore = await runsSeqScans();
    fences = 0;
    const deleted = await new HistoryRetention(ctx).pass();
    const seqAfter = await runsSeqScans();
    const { rows: kept } = await db.query<{ id: string }>('SELECT id::text AS id FROM hg_runs ORDER BY id');
    assert.deepEqual(kept.map((r) => r.id), expected.map((r) => r.id), 'the newest of each class and every active run are kept, nothing else');
    assert.equal(deleted, TASKS * (RUNS_PER_TASK + 2) - expected.length);
    assert.equal(fences, Math.ceil(TASKS / 200), 'one fenced transaction per 200 tasks');
    assert.equal(seqAfter, seqBefore, 'hg_runs was read whole');
  });

  it('sweeps every task in turn, whatever the counts saw, and starts again after the last', async () => {
    // five tasks past their limits by runs no count of this term saw (finished before it began)
    const ids = await tasksWithHistory('swept', 5, 9, { successfulRunsLimit: 2, failedRunsLimit: 1 }, new Date(clockMs - 3 * 3_600_000));
    const pastLimits = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM (SELECT task_id FROM hg_runs WHERE task_id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed')
               GROUP BY task_id HAVING count(*) FILTER (WHERE status = 'succeeded') > 2 OR count(*) FILTER (WHERE status = 'failed') > 1) AS t`,
            [ids],
          )
        ).rows[0]?.n,
      );
    assert.equal(await pastLimits(), 5);
    // every task of the database is swept, two a pass: all of them, the earlier tests' included, within one round
    const { rows } = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM hg_tasks');
    const passes = Math.ceil(Number(rows[0]?.n) / 2);
    const retention = new HistoryRetention(ctx, { sweepPerPass: 2 });
    for (let i = 0; i < passes; i++) {
      clockMs += 10_000;
      await retention.pass();
    }
    assert.equal(await pastLimits(), 0, `tasks still past their limits after ${passes} passes of two`);
    // the next round: runs that no count sees (finished long ago) put a task past its limit again
    await db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at, finished_at)
       SELECT $1, $2::timestamptz + make_interval(secs => g), 'manual', 'succeeded', 'default', $2, $2 FROM generate_series(1, 3) AS g`,
      [ids[0], new Date(clockMs - 86_400_000).toISOString()],
    );
    assert.equal(await pastLimits(), 1);
    for (let i = 0; i <= passes; i++) {
      clockMs += 10_000;
      await retention.pass();
    }
    assert.equal(await pastLimits(), 0, 'the sweep did not go round again');
  });

  it('prunes a task once a tenth of its smaller limit finished since it was last pruned', async () => {
    // limits 20 / 20: pruned every 2 finished runs; the sweep is off, so only the counts decide
    const [id] = await tasksWithHistory('counted', 1, 36, { successfulRunsLimit: 20, failedRunsLimit: 20 }, new Date(clockMs - 7_200_000));
    const retention = new HistoryRetention(ctx, { sweepPerPass: 0 });
    const finishOne = async (atMs: number) => {
      await db.query(
        `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at, finished_at) VALUES ($1, $2, 'manual', 'succeeded', 'default', $2, $2)`,
        [id, new Date(atMs).toISOString()],
      );
    };
    const finished = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM hg_runs WHERE task_id = $1 AND status = 'succeeded'`, [id])).rows[0]?.n);
    const succeededBefore = await finished();
    clockMs += 10_000;
    assert.equal(await retention.pass(), 0, 'the first pass of a term only starts counting');
    await finishOne(clockMs);
    clockMs += 10_000;
    assert.equal(await retention.pass(), 0, 'one finished run of the two that make it worth a walk');
    assert.equal(await finished(), succeededBefore + 1);
    await finishOne(clockMs);
    clockMs += 10_000;
    assert.equal(await retention.pass(), succeededBefore + 2 - 20, 'pruned to its limit once two had finished');
    assert.equal(await finished(), 20);
    await finishOne(clockMs);
    clockMs += 10_000;
    assert.equal(await retention.pass(), 0, 'its count started again from its pruning');
  });
});
