/**
 * Issue 12, item 15: statements that lock several runs lock them in id order, the one lock order of hg_runs
 * (outcomes.ts, decideClaims), whatever plan Postgres picks; two statements that took the same runs in
 * different orders deadlocked ("publish failed; runs stay pending", and extra copies on rabbitmq).
 * The plan is forced to a sequential scan, which visits rows in the order they lie on disk, and the runs are
 * laid out so that disk order is not id order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { Queryable } from '../../core/store/db.ts';
import { markQueued } from '../../core/store/runs.ts';
import { coreOnTestDatabase } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

async function until(ready: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function asQueryable(client: pg.Client): Queryable {
  return {
    async query(sql, params) {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as never[], rowCount: result.rowCount ?? 0 };
    },
  };
}

describe('the lock order of runs', { skip: await skipUnless('postgres') }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  it('markQueued locks runs in id order even when the plan reads them in disk order', async () => {
    const task = await createTaskFromInput(env.ctx, { name: 'lock-order', type: 'noop', params: {}, pool: 'default', concurrencyPolicy: 'Allow' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await triggerTask(env.ctx, task.id)).id);
    const [first, second, third] = ids as [string, string, string];
    await env.db.query(`UPDATE hg_runs SET status = 'pending' WHERE id = ANY($1::bigint[])`, [ids]);
    // the first run's new row version lies after the others on disk: a sequential scan reads second, third, first
    await env.db.query(`UPDATE hg_runs SET status = status WHERE id = $1`, [first]);

    const holder = new pg.Client({ connectionString: env.url });
    const marker = new pg.Client({ connectionString: env.url });
    const prober = new pg.Client({ connectionString: env.url });
    await Promise.all([holder.connect(), marker.connect(), prober.connect()]);
    try {
      await prober.query('SET enable_indexscan = off; SET enable_bitmapscan = off');
      const { rows: order } = await prober.query<{ id: string }>('SELECT id::text AS id FROM hg_runs WHERE id = ANY($1::bigint[])', [ids]);
      assert.notEqual(order[0]?.id, first, `the layout puts the first run after another on disk (disk order ${order.map((r) => r.id).join(', ')})`);

      // the holder has the first run; markQueued must wait for it before it locks any other run
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM hg_runs WHERE id = $1 FOR UPDATE', [first]);
      await marker.query('SET enable_indexscan = off; SET enable_bitmapscan = off');
      const { rows: pidRows } = await marker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const marking = markQueued(asQueryable(marker), ids, new Date());
      marking.catch(() => {}); // awaited below; a failed assertion ends its connection first
      await until(async () => {
        const { rows } = await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted`, [pidRows[0]?.pid]);
        return (rows[0]?.n ?? 0) > 0;
      }, 'markQueued to wait for the first run');
      for (const other of [second, third]) {
        await prober.query('BEGIN');
        await assert.doesNotReject(
          prober.query('SELECT id FROM hg_runs WHERE id = $1 FOR UPDATE NOWAIT', [other]),
          `run ${other} was locked by markQueued before the first run: rows are not locked in id order`,
        );
        await prober.query('ROLLBACK');
      }
      await holder.query('COMMIT');
      await marking;
      const { rows } = await env.db.query<{ status: string }>('SELECT status FROM hg_runs WHERE id = ANY($1::bigint[])', [ids]);
      assert.deepEqual(rows.map((r) => r.status), ['queued', 'queued', 'queued']);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.all([holder.end(), marker.end(), prober.end()]);
    }
  });
});
