import type { Queryable } from './db.ts';

export interface FireAttempts {
  /** the highest attempt number of the fire (task, scheduled time, shard) */
  attempt: number;
  /** whether one of its attempts is pending, queued or running */
  active: boolean;
}

/** The attempts of one fire of a task's shard, as a manual retry must see them before it makes the next. */
export async function fireAttempts(db: Queryable, taskId: string, scheduledTime: string, shard: number): Promise<FireAttempts | undefined> {
  const { rows } = await db.query<{ attempt: number; active: boolean }>(
    `SELECT max(attempt)::int AS attempt, bool_or(status IN ('pending', 'queued', 'running')) AS active
       FROM hg_runs WHERE task_id = $1 AND scheduled_time = $2 AND shard = $3`,
    [taskId, scheduledTime, shard],
  );
  return rows[0];
}
