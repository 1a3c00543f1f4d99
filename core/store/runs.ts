import type { Run, RunReason, RunStatus, RunTrigger } from '../model/index.ts';
import type { CancelTarget } from '../queue/port.ts';
import type { Queryable } from './db.ts';
import { NotFoundError } from './errors.ts';
import { RUN_COLUMNS, RUN_LIST_COLUMNS, toRun, type RunRow } from './rows.ts';
import { ACTIVE, statusAmong } from './status-test.ts';

export interface NewRun {
  taskId: string;
  scheduledTime: Date;
  shard: number;
  shardTotal: number;
  attempt: number;
  trigger: RunTrigger;
  status: RunStatus;
  pool: string;
  priority: number;
  notBefore?: Date | null;
  error?: string | null;
  /** why a run was recorded missed, skipped or cancelled without running (RunReason) */
  reason?: RunReason | null;
}

export interface InsertedRun {
  id: string;
  taskId: string;
  scheduledTime: Date;
  shard: number;
  shardTotal: number;
  attempt: number;
  status: RunStatus;
  notBefore: Date | null;
}

/**
 * Inserts runs in one statement. A run whose (task, scheduled time, shard, attempt) exists already is
 * skipped silently: that is what makes a second dispatcher, a restarted leader or a replayed retry harmless.
 */
export async function insertRuns(db: Queryable, runs: NewRun[], at: Date, options: { notifyQueuedOn?: string } = {}): Promise<InsertedRun[]> {
  if (runs.length === 0) return [];
  // the caller's clock, not the database's: promoteDueRuns and the reaper compare created_at with it
  const now = at.toISOString();
  const { rows } = await db.query<{ id: string; task_id: string; scheduled_time: Date | string; shard: number; shard_total: number; attempt: number; status: RunStatus; not_before: Date | string | null }>(
    // Only for tasks not deleted, with their rows locked FOR SHARE till commit: a delete that came first is
    // waited for and then seen (the run is not made), one that comes after waits for this commit and then
    // cancels what it made. Without the lock a tick or trigger racing a delete left runs of a deleted task.
    // The same holds for a suspension: a scheduled fire of a task suspended before this write is not made
    // (a tick that read the task before the suspend reached the dispatcher fired from inside the suspension).
    //
    // A waiting run names the spec it will run by digest (hg_run_specs, migration 0010): the spec read here,
    // under that same lock, so an edit committed before this write is what runs, and one after is not.
    `WITH live AS (
       SELECT id, spec, sha256(convert_to(spec::text, 'UTF8')) AS digest, COALESCE((spec ->> 'suspend')::boolean, false) AS suspended
         FROM hg_tasks WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL ORDER BY id FOR SHARE
     ),
     stored AS (
       INSERT INTO hg_run_specs (digest, spec) SELECT DISTINCT ON (digest) digest, spec FROM live ON CONFLICT (digest) DO NOTHING
     ),
     inserted AS (
     INSERT INTO hg_runs (task_id, scheduled_time, shard, shard_total, attempt, trigger, status, pool, priority, not_before, queued_at, finished_at, error, reason, created_at, spec_digest)
     SELECT u.task_id, u.scheduled_time, u.shard, u.shard_total, u.attempt, u.trigger, u.status, u.pool, u.priority, u.not_before,
            CASE WHEN u.status = 'queued' THEN $12::timestamptz END,
            CASE WHEN u.status IN ('missed', 'skipped', 'cancelled') THEN $12::timestamptz END,
            u.error, u.reason, $12::timestamptz,
            CASE WHEN u.status IN ('pending', 'queued') THEN live.digest END
       FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::int[], $6::text[], $7::text[], $8::text[],
                   $9::int[], $10::timestamptz[], $11::text[], $13::text[])
            AS u(task_id, scheduled_time, shard, shard_total, attempt, trigger, status, pool, priority, not_before, error, reason)
       JOIN live ON live.id = u.task_id
      WHERE NOT (u.trigger = 'schedule' AND u.status IN ('pending', 'queued') AND live.suspended)
     ON CONFLICT ON CONSTRAINT hg_runs_slot DO NOTHING
     RETURNING id, task_id, scheduled_time, shard, shard_total, attempt, status, not_before, pool
     ),
     -- the postgres queue's wake-up, in this same statement: a trigger is one round trip, not BEGIN,
     -- INSERT, NOTIFY and COMMIT (delivered at commit, so a woken worker finds the runs)
     notified AS (
       SELECT pg_notify($14::text, pool) FROM (SELECT DISTINCT pool FROM inserted WHERE status = 'queued') AS q WHERE $14::text IS NOT NULL
     )
     SELECT id::text AS id, task_id::text AS task_id, scheduled_time, shard, shard_total, attempt, status, not_before, (SELECT count(*) FROM notified) AS notified
       FROM inserted`,
    [
      runs.map((r) => r.taskId),
      runs.map((r) => r.scheduledTime.toISOString()),
      runs.map((r) => r.shard),
      runs.map((r) => r.shardTotal),
      runs.map((r) => r.attempt),
      runs.map((r) => r.trigger),
      runs.map((r) => r.status),
      runs.map((r) => r.pool),
      runs.map((r) => r.priority),
      runs.map((r) => r.notBefore?.toISOString() ?? null),
      runs.map((r) => r.error ?? null),
      now,
      runs.map((r) => r.reason ?? null),
      options.notifyQueuedOn ?? null,
    ],
  );
  return rows.map((row) => ({
    id: row.id,
    taskId: row.task_id,
    scheduledTime: new Date(row.scheduled_time),
    shard: row.shard,
    shardTotal: row.shard_total,
    attempt: row.attempt,
    status: row.status,
    notBefore: row.not_before ? new Date(row.not_before) : null,
  }));
}

/**
 * pending -> queued once the broker holds the message; a run already further along is left alone. Rows are
 * locked in id order, the one lock order of hg_runs (outcomes.ts, decideClaims): a bitmap scan would lock
 * them in the order they lie on disk and could deadlock with a claim decision on the same runs.
 */
export async function markQueued(db: Queryable, runIds: string[], at: Date): Promise<void> {
  if (runIds.length === 0) return;
  await db.query(
    `WITH locked AS (SELECT id FROM hg_runs p WHERE id = ANY($1::bigint[]) AND ${statusAmong('p', ['pending'])} ORDER BY id FOR UPDATE)
     UPDATE hg_runs r SET status = 'queued', queued_at = $2 FROM locked WHERE r.id = ANY($1::bigint[]) AND r.id = locked.id AND ${statusAmong('r', ['pending'])}`,
    [runIds, at.toISOString()],
  );
}

export async function getRun(db: Queryable, id: string): Promise<Run> {
  if (!/^\d{1,18}$/.test(id)) throw new NotFoundError(`run "${id}" not found`, 'HG_ERR_RUN_NOT_FOUND');
  const { rows } = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE r.id = $1`, [id]);
  if (!rows[0]) throw new NotFoundError(`run "${id}" not found`, 'HG_ERR_RUN_NOT_FOUND');
  return toRun(rows[0]);
}

/** Newest first, keyset-paginated on the id so deep pages stay as fast as the first; without output. */
export async function listTaskRuns(db: Queryable, taskId: string, options: { limit: number; beforeId?: string; status?: RunStatus }): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_LIST_COLUMNS} FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE r.task_id = $1 AND ($2::bigint IS NULL OR r.id < $2) AND ($3::text IS NULL OR r.status = $3)
      ORDER BY r.id DESC LIMIT $4`,
    [taskId, options.beforeId ?? null, options.status ?? null, options.limit],
  );
  return rows.map(toRun);
}

export interface ActiveRun {
  id: string;
  taskId: string;
  status: RunStatus;
  scheduledTime: Date;
}

export async function activeRunsOf(db: Queryable, taskIds: string[]): Promise<ActiveRun[]> {
  if (taskIds.length === 0) return [];
  const { rows } = await db.query<{ id: string; task_id: string; status: RunStatus; scheduled_time: Date | string }>(
    `SELECT id::text AS id, task_id::text AS task_id, status, scheduled_time FROM hg_runs
      WHERE task_id = ANY($1::uuid[]) AND status IN ('pending', 'queued', 'running')`,
    [taskIds],
  );
  return rows.map((row) => ({ id: row.id, taskId: row.task_id, status: row.status, scheduledTime: new Date(row.scheduled_time) }));
}

/** The outcome of the latest fire of each named task, over all its shards (hg_latest_outcome; for dependsOn). */
export async function latestOutcomes(db: Queryable, namespace: string, names: string[]): Promise<Map<string, 'succeeded' | 'running' | 'failed'>> {
  if (names.length === 0) return new Map();
  const { rows } = await db.query<{ name: string; outcome: 'succeeded' | 'running' | 'failed' | null }>(
    `SELECT name, hg_latest_outcome(id) AS outcome FROM hg_tasks
      WHERE namespace = $1 AND name = ANY($2::text[]) AND deleted_at IS NULL`,
    [namespace, names],
  );
  return new Map(rows.flatMap((row) => (row.outcome ? [[row.name, row.outcome] as const] : [])));
}

/** Cancels active runs; returns what workers must be told (publishCancel). */
export async function cancelRuns(db: Queryable, runIds: string[], message: string, options: { reason?: RunReason; at?: Date } = {}): Promise<CancelTarget[]> {
  if (runIds.length === 0) return [];
  const { rows } = await db.query<CancelRow>(
    `UPDATE hg_runs r SET status = 'cancelled', finished_at = COALESCE($4::timestamptz, now()), error = $2, reason = $3
      WHERE id = ANY($1::bigint[]) AND ${statusAmong('r', ACTIVE)} ${CANCEL_RETURNING}`,
    [runIds, message, options.reason ?? 'Cancelled', options.at?.toISOString() ?? null],
  );
  return rows.map(toCancelTarget);
}

export const CANCEL_RETURNING = 'RETURNING id::text AS id, task_id::text AS task_id, attempt';
export interface CancelRow {
  id: string;
  task_id: string;
  attempt: number;
}
export function toCancelTarget(row: CancelRow): CancelTarget {
  return { runId: row.id, taskId: row.task_id, attempt: row.attempt };
}
