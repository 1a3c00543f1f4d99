import type { Queryable } from './db.ts';

/** What the reaper (core/dispatch/reaper.ts) reads and writes to find dead workers and the runs they leave. */

/** Workers not DOWN or STOPPED whose last heartbeat is older than `timeoutSeconds` before `judgedAt` become DOWN; returns them. */
export async function markSilentWorkersDown(db: Queryable, timeoutSeconds: number, judgedAt: Date): Promise<Array<{ id: string }>> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE hg_workers SET status = 'DOWN'
        WHERE status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at < $2::timestamptz - make_interval(secs => $1) RETURNING id`,
    [timeoutSeconds, judgedAt.toISOString()],
  );
  return rows;
}

export interface HeldAttempt {
  id: string;
  attempt: number;
  worker_id: string | null;
}

/** Running attempts, started a timeout before `judgedAt`, of workers unknown, DOWN, or STOPPED a timeout ago. */
export async function attemptsOfDeadWorkers(db: Queryable, timeoutSeconds: number, judgedAt: Date): Promise<HeldAttempt[]> {
  const { rows } = await db.query<HeldAttempt>(
    `SELECT r.id::text AS id, r.attempt, r.worker_id FROM hg_runs r LEFT JOIN hg_workers w ON w.id = r.worker_id
        WHERE r.status = 'running' AND COALESCE(r.started_at, r.created_at) < $2::timestamptz - make_interval(secs => $1)
          AND (w.id IS NULL OR w.status = 'DOWN' OR (w.status = 'STOPPED' AND w.last_heartbeat_at < $2::timestamptz - make_interval(secs => $1)))`,
    [timeoutSeconds, judgedAt.toISOString()],
  );
  return rows;
}

/** Pools holding runs queued more than `seconds` before `now`. */
export async function poolsWithRunsQueuedSince(db: Queryable, seconds: number, now: Date): Promise<Array<{ pool: string }>> {
  const { rows } = await db.query<{ pool: string }>(
    `SELECT DISTINCT pool FROM hg_runs WHERE status = 'queued' AND queued_at < $2::timestamptz - make_interval(secs => $1)`,
    [seconds, now.toISOString()],
  );
  return rows;
}
