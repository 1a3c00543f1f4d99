import { TERMINAL_STATUSES } from '../model/run.ts';
import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';

/** the finished statuses as the statuses they are not: no status index can serve it (status-test.ts) */
const finished = (alias: string) => statusAmong(alias, [...TERMINAL_STATUSES]);
/** spec.history's limits as stored; 100 is the schema's default (core/model/task.ts), for specs stored before it */
const SUCCEEDED_LIMIT = `COALESCE((t.spec -> 'history' ->> 'successfulRunsLimit')::int, 100)`;
const FAILED_LIMIT = `COALESCE((t.spec -> 'history' ->> 'failedRunsLimit')::int, 100)`;

/**
 * Deletes the finished runs of these tasks beyond their limits in spec.history (see core/dispatch/retention.ts).
 * Returns how many runs were deleted. For each task and class (succeeded, or any other finished status) the
 * boundary is the limit-th newest run of the class, found on hg_runs_task (task_id, id DESC), and the runs at
 * or below it are reached on the same index: the work is the tasks' limits and deletions, never the table.
 * Planned with sequential scans and hash joins off: left to its estimates, the planner joined the whole of
 * hg_runs against the tasks and ran the boundary lookup once per run (2.2 million runs: 261 s, where the
 * boundaries alone cost well under a second). The finished statuses are tested as NOT IN the active ones: as
 * `status IN (...)`, a table without statistics (a new installation, a bulk load) had each lookup AND the
 * task's runs with every finished run in hg_runs_status_id (200,000 runs: 1.3-2.4 s a batch of 200 tasks).
 */
export async function deleteRunsBeyondHistoryLimits(tx: Queryable, taskIds: string[]): Promise<number> {
  if (taskIds.length === 0) return 0;
  await tx.query(`SET LOCAL enable_seqscan = off`);
  await tx.query(`SET LOCAL enable_hashjoin = off`);
  await tx.query(`SET LOCAL enable_mergejoin = off`);
  const { rowCount } = await tx.query(
    `WITH bounds AS MATERIALIZED (
       SELECT t.id AS task_id, c.ok, doomed.id AS newest_doomed
         FROM hg_tasks t
        CROSS JOIN (VALUES (true), (false)) AS c(ok)
        CROSS JOIN LATERAL (
          SELECT r.id FROM hg_runs r
           WHERE r.task_id = t.id AND ${finished('r')} AND (r.status = 'succeeded') = c.ok
           ORDER BY r.id DESC
          OFFSET CASE WHEN c.ok THEN ${SUCCEEDED_LIMIT} ELSE ${FAILED_LIMIT} END
           LIMIT 1) AS doomed
        WHERE t.id = ANY($1::uuid[])
     )
     DELETE FROM hg_runs d USING bounds b
      WHERE d.task_id = b.task_id AND d.id <= b.newest_doomed
        AND ${finished('d')} AND (d.status = 'succeeded') = b.ok`,
    [taskIds],
  );
  return rowCount;
}

export interface FinishedRunCount {
  taskId: string;
  finished: number;
  /** the smaller of the task's two history limits */
  smallestLimit: number;
}

/** How many runs of each task finished in [from, until), with the task's smaller history limit; walks hg_runs_finished over the window. */
export async function countFinishedRuns(db: Queryable, from: Date, until: Date): Promise<FinishedRunCount[]> {
  const { rows } = await db.query<{ task_id: string; finished: number; smallest_limit: number }>(
    `SELECT f.task_id::text AS task_id, f.finished, LEAST(${SUCCEEDED_LIMIT}, ${FAILED_LIMIT}) AS smallest_limit
       FROM (SELECT task_id, count(*)::int AS finished FROM hg_runs WHERE finished_at >= $1 AND finished_at < $2 GROUP BY task_id) AS f
       JOIN hg_tasks t ON t.id = f.task_id`,
    [from.toISOString(), until.toISOString()],
  );
  return rows.map((r) => ({ taskId: r.task_id, finished: r.finished, smallestLimit: r.smallest_limit }));
}

/** Task ids after `after` (null: from the first) in id order, deleted tasks included: their history is limited too. */
export async function taskIdsAfter(db: Queryable, after: string | null, limit: number): Promise<string[]> {
  // ordered by the column, not by its text alias (which no index gives: every pass read and sorted all tasks)
  const { rows } =
    after === null
      ? await db.query<{ id: string }>(`SELECT t.id::text AS id FROM hg_tasks t ORDER BY t.id LIMIT $1`, [limit])
      : await db.query<{ id: string }>(`SELECT t.id::text AS id FROM hg_tasks t WHERE t.id > $1::uuid ORDER BY t.id LIMIT $2`, [after, limit]);
  return rows.map((r) => r.id);
}

/** Deletes the rows of workers DOWN since before `before`. */
export async function deleteWorkersDownSince(db: Queryable, before: Date): Promise<void> {
  await db.query(`DELETE FROM hg_workers WHERE status = 'DOWN' AND last_heartbeat_at < $1`, [before.toISOString()]);
}
