import type { Queryable } from './db.ts';
import { taskColumns, type TaskRow } from './rows.ts';

/** A run due for the queue, with its task's columns and the spec it was made with (run_spec). */
export type DueRunRow = TaskRow & { run_id: string; r_scheduled_time: Date | string; shard: number; shard_total: number; attempt: number; r_status: string; run_spec: unknown };

export interface DueRunsQuery {
  /** the run statuses looked at: pending, and queued to republish */
  statuses: string[];
  now: Date;
  limit: number;
  /** a pending run without a backoff created before this has stalled in its hand-off (ISO time) */
  stalledBefore: string;
  /** a queued run queued before this is republished (ISO time) */
  queuedBefore: string;
  pool: string | null;
}

/** Runs of live tasks due for the queue, oldest first (promoteDueRuns in core/dispatch/enqueue.ts says which). */
export async function dueRunsToHandOff(db: Queryable, query: DueRunsQuery): Promise<DueRunRow[]> {
  const { rows } = await db.query<DueRunRow>(
    `SELECT r.id::text AS run_id, r.scheduled_time AS r_scheduled_time, r.shard, r.shard_total, r.attempt, r.status AS r_status, COALESCE(s.spec, r.spec) AS run_spec,
            ${taskColumns('t')}
       FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id LEFT JOIN hg_run_specs s ON s.digest = r.spec_digest
      WHERE r.status = ANY($1::text[]) AND t.deleted_at IS NULL AND ($6::text IS NULL OR r.pool = $6)
        AND (r.not_before <= $2 OR (r.not_before IS NULL AND (r.status = 'queued' AND r.queued_at <= $5 OR r.status = 'pending' AND r.created_at < $4)))
      ORDER BY r.id LIMIT $3`,
    [query.statuses, query.now.toISOString(), query.limit, query.stalledBefore, query.queuedBefore, query.pool],
  );
  return rows;
}

/** When the earliest retry's backoff ends (a pending run with not_before), or null when none waits. */
export async function nextRetryAt(db: Queryable): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | string | null }>(`SELECT min(not_before) AS at FROM hg_runs WHERE status = 'pending' AND not_before IS NOT NULL`);
  const at = rows[0]?.at;
  return at ? new Date(at) : null;
}
