import type { CoreContext } from './context.ts';

/** a worker DOWN this long is forgotten (its row in hg_workers is deleted) */
const FORGET_WORKERS_AFTER_MS = 24 * 3_600_000;

/**
 * Keeps each task's history within spec.history: the newest `successfulRunsLimit` succeeded runs and the
 * newest `failedRunsLimit` of every other finished status (failed, timed out, cancelled, missed, skipped).
 * Only tasks with runs finished since `since` are looked at, and for each only the boundary is found: the
 * limit-th newest run of its class, walked on hg_runs_task (task_id, id DESC), so a pass costs what the
 * limits and the deletions cost, not the task's whole history. Active runs are never touched; their logs go
 * with them (ON DELETE CASCADE). Workers DOWN for a day are forgotten too (hg_workers would grow for ever).
 */
export async function pruneHistory(ctx: CoreContext, since: Date): Promise<number> {
  const { fence } = ctx;
  const params = [since.toISOString()];
  // the leader's pass is fenced (leader-work.ts): a woken old leader deletes nothing
  const { rowCount } = fence
    ? await ctx.db.transaction(async (tx) => {
        await fence(tx);
        return tx.query(PRUNE_SQL, params);
      })
    : await ctx.db.query(PRUNE_SQL, params);
  await ctx.db.query(`DELETE FROM hg_workers WHERE status = 'DOWN' AND last_heartbeat_at < $1`, [new Date(ctx.now() - FORGET_WORKERS_AFTER_MS).toISOString()]);
  return rowCount;
}

/** deletes each touched task's finished runs beyond its limits ($1: runs finished since) */
const PRUNE_SQL = `WITH touched AS (
       SELECT DISTINCT r.task_id FROM hg_runs r WHERE r.finished_at >= $1
     ), bounds AS (
       SELECT t.id AS task_id, c.ok,
              (SELECT r.id FROM hg_runs r
                WHERE r.task_id = t.id AND r.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped')
                  AND (r.status = 'succeeded') = c.ok
                ORDER BY r.id DESC
               OFFSET CASE WHEN c.ok THEN COALESCE((t.spec -> 'history' ->> 'successfulRunsLimit')::int, 100)
                           ELSE COALESCE((t.spec -> 'history' ->> 'failedRunsLimit')::int, 100) END
                LIMIT 1) AS newest_doomed
         FROM touched JOIN hg_tasks t ON t.id = touched.task_id CROSS JOIN (VALUES (true), (false)) AS c(ok)
     )
     DELETE FROM hg_runs d USING bounds b
      WHERE b.newest_doomed IS NOT NULL AND d.task_id = b.task_id AND d.id <= b.newest_doomed
        AND d.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped')
        AND (d.status = 'succeeded') = b.ok`;
