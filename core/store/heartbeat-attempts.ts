import type { CancelRow } from './runs.ts';
import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';

/** An attempt a worker names in its heartbeat (`abandoned` or `held`): run id, attempt number, the worker. */
export interface WorkerAttempt {
  id: string;
  attempt: number;
  workerId: string;
}

/** Those of these attempts that are running on the worker that names them (the claims it says it gave up). */
export async function runningAttemptsOfWorkers(db: Queryable, pairs: WorkerAttempt[]): Promise<Array<{ id: string; attempt: number; worker_id: string }>> {
  const { rows } = await db.query<{ id: string; attempt: number; worker_id: string }>(
    `SELECT r.id::text AS id, r.attempt, r.worker_id FROM hg_runs r
       JOIN unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, worker_id) ON r.id = u.id AND r.attempt = u.attempt
      WHERE r.id = ANY($1::bigint[]) AND ${statusAmong('r', ['running'])} AND r.worker_id = u.worker_id`,
    [pairs.map((p) => p.id), pairs.map((p) => p.attempt), pairs.map((p) => p.workerId)],
  );
  return rows;
}

/** Those of these attempts a worker still holds that the core settled without it (failed for it, cancelled, or given to another worker). */
export async function attemptsSettledWithoutTheirWorker(db: Queryable, held: WorkerAttempt[]): Promise<CancelRow[]> {
  const { rows } = await db.query<CancelRow>(
    `SELECT r.id::text AS id, r.task_id::text AS task_id, r.attempt
       FROM hg_runs r JOIN unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, worker_id) ON r.id = u.id AND r.attempt = u.attempt
      WHERE r.id = ANY($1::bigint[]) AND r.status NOT IN ('pending', 'queued', 'running')
        AND (r.failed_by_core OR r.status = 'cancelled' OR r.worker_id IS DISTINCT FROM u.worker_id)`,
    [held.map((h) => h.id), held.map((h) => h.attempt), held.map((h) => h.workerId)],
  );
  return rows;
}
