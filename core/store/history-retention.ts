import type { Queryable } from './db.ts';

/**
 * Deletes each task's finished runs beyond its limits in spec.history, for the tasks with runs finished since
 * `since` (see pruneHistory in core/dispatch/retention.ts). Returns how many runs were deleted.
 */
export async function deleteRunsBeyondHistoryLimits(db: Queryable, since: Date): Promise<number> {
  const { rowCount } = await db.query(PRUNE_SQL, [since.toISOString()]);
  return rowCount;
}

/** Deletes the rows of workers DOWN since before `before`. */
export async function deleteWorkersDownSince(db: Queryable, before: Date): Promise<void> {
  await db.query(`DELETE FROM hg_workers WHERE status = 'DOWN' AND last_heartbeat_at < $1`, [before.toISOString()]);
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
