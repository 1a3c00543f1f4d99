/**
 * The run lists of the REST API at the store, on a large history with a backlog: `listRuns` as the API calls
 * it, by pool, by a finished status, by an active status, by several statuses and by a window of scheduled
 * time, with N finished runs (bench/lib/history-fill.ts: 1,000 tasks over 10 pools) and B runs queued in one
 * pool. Prints p50 / p99 ms of each list over 200 calls, after a warm-up pass.
 *
 *   node bench/run-lists.ts [--runs 2000000] [--backlog 2000]
 *
 * Lists by status, pool or time merge a walk of the finished runs' indexes with the matching active runs,
 * sorted (core/store/run-queries.ts), so their cost grows with the backlog they list, not with the history:
 * run it with two backlogs to see both. To compare two trees, run it in each checkout.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { listRuns, migrate, openPgDb, type RunFilter } from '../core/store/index.ts';
import { createTestDatabase } from '../test/support/services.ts';
import { fillHistory } from './lib/history-fill.ts';
import { latencies } from './lib/stats.ts';

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '2000000' }, backlog: { type: 'string', default: '2000' } } });
const runs = Number(flags.runs);
const backlog = Number(flags.backlog);
for (const [name, value] of [['--runs', runs], ['--backlog', backlog]] as const) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}: a whole number, not ${String(value)}`);
}
const CALLS = 200;

const database = await createTestDatabase();
const db = await openPgDb({ url: database.url, maxConnections: 1, logger: pino({ level: 'silent' }) });
try {
  await migrate(db);
  await fillHistory(database.url, { type: 'noop', schedule: '@every 1m', pool: 'default' }, { runs, tasks: 1000, pools: 10, sessions: 2 });
  await db.query(
    `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, queued_at)
     SELECT (SELECT id FROM hg_tasks ORDER BY name LIMIT 1), now() + make_interval(secs => i), 'manual', 'queued', 'pool-3', now()
       FROM generate_series(1, $1::int) i`,
    [backlog],
  );
  await db.query('ANALYZE');
  const lists: Array<[string, RunFilter, number]> = [
    ['pool (with the backlog)', { pool: 'pool-3' }, 50],
    ['pool (without)', { pool: 'pool-4' }, 50],
    ['status failed', { statuses: ['failed'] }, 50],
    ['status queued', { statuses: ['queued'] }, 50],
    ['statuses failed, timed_out', { statuses: ['failed', 'timed_out'] }, 10],
    ['last 24 hours (500)', { from: new Date(Date.now() - 86_400_000) }, 500],
  ];
  console.log(`${runs} finished runs, ${backlog} queued in pool-3; ${CALLS} calls each, p50 / p99 ms`);
  for (const [what, filter, limit] of lists) {
    const times: number[] = [];
    for (let call = 0; call < CALLS + 10; call++) {
      const started = performance.now();
      await listRuns(db, filter, { limit });
      if (call >= 10) times.push(performance.now() - started);
    }
    const { p50_ms, p99_ms } = latencies(times);
    console.log(`${what.padEnd(30)} ${String(p50_ms).padStart(7)} / ${p99_ms}`);
  }
} finally {
  await db.close();
  await database.drop();
}
