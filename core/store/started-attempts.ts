import type { Queryable } from './db.ts';
import type { CancelRow } from './runs.ts';
import { ACTIVE as ACTIVE_STATUSES, statusAmong } from './status-test.ts';

/** A worker's report that it started an attempt; `at` is the worker's time, as it sent it. */
export interface AttemptStart {
  runId: string;
  attempt: number;
  workerId: string;
  at: string;
}

/**
 * Marks these attempts running under the worker that started them, while they are still active and held
 * by that worker or by none; returns the ids of the runs it changed. The worker's clock is not the core's:
 * a start is never recorded before the run was queued (issue 18, item 19); a started event from a worker
 * other than the one holding the attempt changes nothing.
 */
export async function recordStartedAttempts(db: Queryable, starts: AttemptStart[]): Promise<Array<{ id: string }>> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE hg_runs r SET status = 'running', worker_id = u.worker_id, started_at = COALESCE(r.started_at, GREATEST(u.at, r.queued_at))
       FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[]) AS u(id, attempt, worker_id, at)
      WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND ${statusAmong('r', ACTIVE_STATUSES)}
        AND (r.worker_id IS NULL OR r.worker_id = u.worker_id)
      RETURNING r.id::text AS id`,
    [starts.map((e) => e.runId), starts.map((e) => e.attempt), starts.map((e) => e.workerId), starts.map((e) => e.at)],
  );
  return rows;
}

/**
 * Those of these runs that are cancelled: a start that changed nothing may be a run cancelled while it
 * waited in the queue and started anyway by a broker worker, which must be told to stop.
 */
export async function cancelledRunsAmong(db: Queryable, runIds: string[]): Promise<CancelRow[]> {
  const { rows } = await db.query<CancelRow>(
    `SELECT id::text AS id, task_id::text AS task_id, attempt FROM hg_runs r WHERE id = ANY($1::bigint[]) AND ${statusAmong('r', ['cancelled'])}`,
    [runIds],
  );
  return rows;
}
