import type { CoreContext } from './context.ts';

/**
 * Keeps each task's history within spec.history: the newest `successfulRunsLimit` succeeded runs and the
 * newest `failedRunsLimit` of every other finished status (failed, timed out, cancelled, missed, skipped).
 * Only tasks with runs finished since `since` are looked at, so a pass costs what changed, not the table.
 * Active runs are never touched; their logs go with them (ON DELETE CASCADE).
 */
export async function pruneHistory(ctx: CoreContext, since: Date): Promise<number> {
  const { rowCount } = await ctx.db.query(
    `WITH touched AS (
       SELECT DISTINCT task_id FROM hg_runs WHERE finished_at >= $1
     ), ranked AS (
       SELECT r.id, r.task_id, r.status = 'succeeded' AS ok,
              row_number() OVER (PARTITION BY r.task_id, r.status = 'succeeded' ORDER BY r.id DESC) AS n
         FROM hg_runs r JOIN touched ON touched.task_id = r.task_id
        WHERE r.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped')
     )
     DELETE FROM hg_runs d USING ranked x, hg_tasks t
      WHERE d.id = x.id AND t.id = x.task_id
        AND x.n > CASE WHEN x.ok THEN COALESCE((t.spec -> 'history' ->> 'successfulRunsLimit')::int, 100)
                       ELSE COALESCE((t.spec -> 'history' ->> 'failedRunsLimit')::int, 100) END`,
    [since.toISOString()],
  );
  return rowCount;
}
