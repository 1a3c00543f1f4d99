import type { Queryable } from './db.ts';

/** What the postgres queue adapter (core/queue/postgres.ts) reads and writes: the queue is hg_runs itself. */

/** How many runs of this pool wait in the queue (status queued). */
export async function queuedRunCount(db: Queryable, pool: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE status = 'queued' AND pool = $1`, [pool]);
  return rows[0]?.n ?? 0;
}

/** A run as a postgres worker receives it: the attempt, its task, and the spec captured with the run. */
export interface DequeuedRow {
  id: string;
  attempt: number;
  task_id: string;
  name: string;
  pool: string;
  priority: number;
  spec: { type: string; shell?: unknown; http?: unknown; params?: Record<string, unknown>; timeoutSeconds: number };
  shard: number;
  shard_total: number;
  scheduled_time: Date | string;
}

/**
 * Takes up to `max` queued runs of this pool for this worker: hg_dequeue (migration 0010) is the claim and
 * the receive in one statement (FOR UPDATE SKIP LOCKED), planned to walk hg_runs_queue.
 */
export async function dequeueRuns(db: Queryable, pool: string, max: number, workerId: string): Promise<DequeuedRow[]> {
  const { rows } = await db.query<DequeuedRow>('SELECT * FROM hg_dequeue($1, $2, $3)', [pool, max, workerId]);
  return rows;
}

/**
 * Attempts of this pool running under this worker id that started at or after `since`, as a dequeue returns
 * them: what a dequeue whose answer was lost may have taken (issue 12, defect 6). The spec is the one
 * captured with the run (hg_run_specs by hg_runs.spec_digest, or hg_runs.spec before migration 0010).
 */
export async function runsTakenSince(db: Queryable, workerId: string, pool: string, since: Date): Promise<DequeuedRow[]> {
  const { rows } = await db.query<DequeuedRow>(
    `SELECT r.id::text AS id, r.attempt, r.task_id::text AS task_id, t.name, r.pool, r.priority, COALESCE(s.spec, r.spec, t.spec) AS spec, r.shard, r.shard_total, r.scheduled_time
         FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id LEFT JOIN hg_run_specs s ON s.digest = r.spec_digest
        WHERE r.status = 'running' AND r.worker_id = $1 AND r.pool = $2 AND r.started_at >= $3`,
    [workerId, pool, since],
  );
  return rows;
}
