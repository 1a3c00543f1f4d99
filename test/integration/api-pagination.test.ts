import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Queryable } from '../../core/store/db.ts';
import { listRuns, type RunFilter } from '../../core/store/run-queries.ts';
import { coreOnTestDatabase } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');
const RUNS = 100_000;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The plan Postgres picks for the statement listRuns sends (captured by wrapping the connection). */
async function planOf(db: Queryable, call: (db: Queryable) => Promise<unknown>): Promise<PlanNode[]> {
  let plan: PlanNode | undefined;
  const explaining: Queryable = {
    async query<Row>(sql: string, params?: unknown[]) {
      const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
      return { rows: [] as Row[], rowCount: 0 };
    },
  };
  await call(explaining);
  assert.ok(plan);
  return nodes(plan);
}

describe('run pages over a large history', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let taskIds: string[];
  before(async () => {
    env = await coreOnTestDatabase();
    const { rows } = await env.db.query<{ id: string }>(
      `INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), 'bulk-' || i, '{"type":"noop"}' FROM generate_series(1, 50) i RETURNING id::text`,
    );
    taskIds = rows.map((r) => r.id);
    // mostly succeeded, a few failed, spread over pools and tasks, with one rare pool and one rare task: a
    // selective filter is where a missing index shows (a common value is cheaper through the primary key).
    // Some runs are still active, old and new among the finished ones: lists merge the two (migration 0014)
    await env.db.query(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, finished_at)
       SELECT CASE WHEN i % 1009 = 0 THEN ($1::uuid[])[1] ELSE ($1::uuid[])[2 + i % 49] END, now() - make_interval(secs => i), 'schedule',
              CASE WHEN i % 1000 = 0 THEN 'failed' WHEN i % 151 = 0 THEN 'queued' WHEN i % 409 = 0 THEN 'running' WHEN i % 613 = 0 THEN 'pending'
                   ELSE 'succeeded' END,
              CASE WHEN i % 997 = 0 OR i % 1510 = 0 THEN 'rare-pool' ELSE 'pool-' || (i % 7) END,
              CASE WHEN i % 151 = 0 OR i % 409 = 0 OR i % 613 = 0 THEN NULL ELSE now() - make_interval(secs => i) END
         FROM generate_series(1, $2) i`,
      [taskIds, RUNS],
    );
    await env.db.query('ANALYZE hg_runs');
    await env.db.query('ANALYZE hg_tasks');
  });
  after(async () => env?.close());

  const cases: Array<[string, () => RunFilter, string]> = [
    ['a rare status', () => ({ statuses: ['failed'] }), 'hg_runs_status_id'],
    ['a rare pool', () => ({ pool: 'rare-pool' }), 'hg_runs_pool_id'],
    ['a rarely run task', () => ({ taskId: taskIds[0] as string }), 'hg_runs_task'],
  ];
  for (const [what, filter, index] of cases) {
    it(`pages by ${what} through its index, never a scan of the table`, async () => {
      const resolved = filter();
      const deep = await listRuns(env.db, resolved, { limit: 5, beforeId: String(Math.floor(RUNS / 2)) });
      const plan = await planOf(env.db, (db) => listRuns(db, resolved, { limit: 50, beforeId: String(Math.floor(RUNS / 2)) }));
      const types = plan.map((n) => n['Node Type']);
      assert.ok(plan.some((n) => n['Index Name'] === index), `uses ${index}: ${JSON.stringify(plan.map((n) => [n['Node Type'], n['Index Name']]))}`);
      assert.ok(!plan.some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'hg_runs'), `no Seq Scan of hg_runs: ${types.join(', ')}`);
      // a Sort may remain: with this few matching rows, fetching them all through the index and sorting
      // is what Postgres rightly prefers; over a table of millions the same index is walked in id order
      assert.ok(deep.length > 0);
      const ids = deep.map((r) => Number(r.id));
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    });
  }

  const merged: Array<[string, () => RunFilter]> = [
    ['a pool', () => ({ pool: 'rare-pool' })],
    ['an active status', () => ({ statuses: ['queued'] })],
    ['finished and active statuses', () => ({ statuses: ['failed', 'running', 'pending'] })],
    ['a pool and statuses of both kinds', () => ({ pool: 'pool-3', statuses: ['succeeded', 'queued'] })],
    ['a window of scheduled time', () => ({ from: new Date(Date.now() - 40_000_000), to: new Date(Date.now() - 39_000_000) })],
    ['a window and a status', () => ({ statuses: ['queued'], from: new Date(Date.now() - 60_000_000) })],
  ];
  for (const [what, filter] of merged) {
    it(`pages by ${what} in the order of a plain query, finished and active runs together, none twice`, async () => {
      const resolved = filter();
      const pages: string[] = [];
      let beforeId: string | undefined;
      for (let n = 0; n < 6; n++) {
        const page = await listRuns(env.db, resolved, { limit: 7, ...(beforeId ? { beforeId } : {}) });
        pages.push(...page.map((run) => run.id));
        if (page.length < 7) break;
        beforeId = page.at(-1)?.id;
      }
      const where = [
        resolved.statuses ? `status = ANY($1::text[])` : '$1::text[] IS NULL',
        resolved.pool ? `pool = $2` : '$2::text IS NULL',
        resolved.from ? `scheduled_time >= $3` : '$3::timestamptz IS NULL',
        resolved.to ? `scheduled_time < $4` : '$4::timestamptz IS NULL',
      ];
      const { rows } = await env.db.query<{ id: string }>(
        `SELECT r.id::text AS id FROM hg_runs r WHERE ${where.join(' AND ')} ORDER BY r.id DESC LIMIT ${pages.length}`,
        [resolved.statuses ?? null, resolved.pool ?? null, resolved.from?.toISOString() ?? null, resolved.to?.toISOString() ?? null],
      );
      assert.ok(pages.length >= 7, `${what}: at least a page (${pages.length})`);
      assert.deepEqual(pages, rows.map((r) => r.id));
    });
  }

  it('answers a deep page as fast as the first', async () => {
    const time = async (beforeId?: string) => {
      const started = performance.now();
      for (let i = 0; i < 20; i++) await listRuns(env.db, { statuses: ['failed'] }, { limit: 50, ...(beforeId ? { beforeId } : {}) });
      return (performance.now() - started) / 20;
    };
    await time();
    const first = await time();
    const deep = await time('1000');
    // generous: a shared machine is noisy, an OFFSET or a scan would be orders of magnitude slower
    assert.ok(deep < Math.max(first * 5, 20), `first page ${first.toFixed(2)} ms, deep page ${deep.toFixed(2)} ms`);
  });
});
