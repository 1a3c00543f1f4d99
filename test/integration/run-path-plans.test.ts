/**
 * Issue 15: statements that reach runs by id (a batch of outcomes, starts, claims, cancels) find them
 * through their ids, never by walking a status index. With statistics taken while few runs were active,
 * the planner walked hg_runs_active to settle each batch of outcomes: with 20,000 runs queued, every batch
 * of 200 read all 20,000, and the history writer slowed in proportion to the backlog.
 *
 * Counted, not timed: Postgres's own per-index scan counters (pg_stat_user_indexes), on one connection
 * whose statistics are flushed before each reading.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { createRuns } from '../../core/dispatch/enqueue.ts';
import { finishAttempts } from '../../core/dispatch/outcomes.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import type { Task } from '../../core/model/index.ts';
import { createPostgresConsumer, createPostgresProducer } from '../../core/queue/postgres.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { listRuns } from '../../core/store/run-queries.ts';
import { cancelRuns, markQueued } from '../../core/store/runs.ts';
import { silentLogger } from '../support/core.ts';
import { indexScans, STATUS_INDEXES } from '../support/index-scans.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';

const BACKLOG = 20_000;

const statusIndexScans = (db: Db) => indexScans(db, STATUS_INDEXES);

describe('the run path reaches runs by id, whatever the statistics say', { skip: await skipUnless('postgres') }, () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  let ctx: CoreContext;
  let task: Task;
  let backlog: string[] = [];

  before(async () => {
    testDb = await createTestDatabase();
    // one connection: every statement of the test, and the statistics flush, on the same backend
    db = await openPgDb({ url: testDb.url, maxConnections: 1, logger: silentLogger });
    await migrate(db);
    ctx = { db, logger: silentLogger, clock: systemClock, now: Date.now, queue: createPostgresProducer({ db, applyStatus: async () => {} }) };
    task = await createTaskFromInput(ctx, { name: 'plans', type: 'noop', params: {}, concurrencyPolicy: 'Allow' });
    // history first, analyzed: the statistics say almost nothing is active
    const old = await createRuns(ctx, Array.from({ length: 1000 }, (_, i) => ({ task, scheduledTime: new Date(Date.UTC(2000, 0, 1) + i), trigger: 'manual' as const })));
    await finishAttempts(ctx, old.map((run) => ({ runId: run.id, attempt: 1, status: 'succeeded' as const, at: new Date() })));
    await db.query('ANALYZE hg_runs');
    // then a backlog forms faster than autovacuum analyzes
    for (let i = 0; i < BACKLOG; i += 2000) {
      const made = await createRuns(ctx, Array.from({ length: 2000 }, (_, j) => ({ task, scheduledTime: new Date(Date.UTC(2001, 0, 1) + i + j), trigger: 'manual' as const })));
      backlog.push(...made.map((run) => run.id));
    }
    assert.equal(backlog.length, BACKLOG);
  });
  after(async () => {
    await db?.close();
    await testDb?.drop();
  });

  async function assertNoStatusScan(what: string, work: () => Promise<unknown>, allowed: string[] = []): Promise<void> {
    const without = (scans: Record<string, number>) => Object.fromEntries(Object.entries(scans).filter(([name]) => !allowed.includes(name)));
    const before = await statusIndexScans(db);
    await work();
    const after = await statusIndexScans(db);
    assert.deepEqual(without(after), without(before), `${what} walked a status index (scans before/after per index)`);
  }

  function take(n: number): string[] {
    const ids = backlog.slice(0, n);
    backlog = backlog.slice(n);
    return ids;
  }

  it('settles a batch of outcomes', async () => {
    const ids = take(200);
    await assertNoStatusScan('finishAttempts', () => finishAttempts(ctx, ids.map((id) => ({ runId: id, attempt: 1, status: 'succeeded' as const, at: new Date(), workerId: 'w1', output: '' }))));
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
    assert.equal(rows[0]?.n, 200);
  });

  it('records a batch of starts, and their outcomes a batch later', async () => {
    const ids = take(200);
    const started = ids.map((id) => ({ kind: 'started' as const, runId: id, attempt: 1, workerId: 'w1', at: new Date().toISOString() }));
    await assertNoStatusScan('recording starts', () => applyStatusEvents(ctx, started));
    const finished = ids.map((id) => ({ kind: 'finished' as const, runId: id, attempt: 1, workerId: 'w1', status: 'succeeded' as const, at: new Date().toISOString(), retryable: true }));
    await assertNoStatusScan('applying outcomes', () => applyStatusEvents(ctx, finished));
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
    assert.equal(rows[0]?.n, 200);
  });

  it('decides a batch of claims', async () => {
    const ids = take(200);
    const granted = await (async () => {
      let answers: boolean[] = [];
      await assertNoStatusScan('decideClaims', async () => (answers = await decideClaims(ctx, ids.map((id) => ({ runId: id, attempt: 1, workerId: 'w2' })))));
      return answers;
    })();
    assert.equal(granted.filter(Boolean).length, 200);
  });

  it('cancels a batch of runs', async () => {
    const ids = take(200);
    let cancelled = 0;
    await assertNoStatusScan('cancelRuns', async () => (cancelled = (await cancelRuns(db, ids, 'cancelled by the test')).length));
    assert.equal(cancelled, 200);
  });

  it('dequeues from the head of hg_runs_queue (postgres queue), not by sorting every queued run', async () => {
    const consumer = createPostgresConsumer({ db, workerId: 'w3', applyStatus: async () => {} });
    let taken = 0;
    const before = await statusIndexScans(db);
    // hg_dequeue keeps its plan for the session (migration 0013): after five calls Postgres may switch to a
    // generic plan, made without the pool or the limit, which must walk the same index
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await db.query(`SELECT set_config('plan_cache_mode', $1, false)`, [mode]);
      for (let call = 0; call < 4; call++) {
        await assertNoStatusScan(`dequeue ${call + 1} (${mode})`, async () => (taken += (await consumer.receive('default', { max: 50, waitMs: 0 })).length), ['hg_runs_queue']);
      }
    }
    await db.query(`RESET plan_cache_mode`);
    const after = await statusIndexScans(db);
    await consumer.close();
    assert.equal(taken, 400);
    assert.ok((after.hg_runs_queue ?? 0) > (before.hg_runs_queue ?? 0), 'hg_runs_queue was walked');
  });

  it('lists runs by pool, by status and by several statuses through the indexes of that filter, not the primary key or the table', async () => {
    const scans = async () => {
      await db.query('SELECT pg_stat_force_next_flush()');
      const { rows } = await db.query<{ name: string; scans: string }>(
        `SELECT indexrelname AS name, idx_scan::text AS scans FROM pg_stat_user_indexes WHERE relname = 'hg_runs'
         UNION ALL SELECT 'seq_scan', seq_scan::text FROM pg_stat_user_tables WHERE relname = 'hg_runs'`,
      );
      return Object.fromEntries(rows.map((row) => [row.name, Number(row.scans)]));
    };
    // finished runs are listed through the history's indexes (finished runs only, migration 0014), active
    // ones through the indexes of active runs; a list of both reads both
    const activeIndexes = ['hg_runs_active', 'hg_runs_queue', 'hg_runs_worker'];
    const cases: Array<[string, Parameters<typeof listRuns>[1], string[][]]> = [
      ['a pool', { pool: 'default' }, [['hg_runs_pool_id'], activeIndexes]],
      ['one finished status', { statuses: ['succeeded'] }, [['hg_runs_status_id']]],
      ['one active status', { statuses: ['queued'] }, [activeIndexes]],
      ['several statuses', { statuses: ['succeeded', 'failed', 'cancelled'] }, [['hg_runs_status_id']]],
      ['finished and active statuses', { statuses: ['succeeded', 'queued'] }, [['hg_runs_status_id'], activeIndexes]],
      ['a task', { taskId: task.id }, [['hg_runs_task']]],
    ];
    for (const [what, filter, walks] of cases) {
      const before = await scans();
      const page = await listRuns(db, filter, { limit: 50 });
      const after = await scans();
      assert.equal(page.length, 50, what);
      for (const anyOf of walks) {
        assert.ok(anyOf.some((index) => (after[index] ?? 0) > (before[index] ?? 0)), `the list by ${what} walked one of ${anyOf.join(', ')}`);
      }
      assert.equal(after.hg_runs_pkey, before.hg_runs_pkey, `the list by ${what} did not walk the primary key`);
      assert.equal(after.seq_scan, before.seq_scan, `the list by ${what} did not scan the table`);
    }
  });

  it('marks a batch of pending runs queued', async () => {
    const ids = take(200);
    await db.query(`UPDATE hg_runs SET status = 'pending', queued_at = NULL WHERE id = ANY($1::bigint[])`, [ids]);
    await assertNoStatusScan('markQueued', () => markQueued(db, ids, new Date()));
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE id = ANY($1::bigint[]) AND status = 'queued'`, [ids]);
    assert.equal(rows[0]?.n, 200);
  });
});
