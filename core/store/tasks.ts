import { randomUUID } from 'node:crypto';
import type { Task, TaskSpec } from '../model/index.ts';
import type { Db, Queryable } from './db.ts';
import { ConflictError, NotFoundError, isUniqueViolation } from './errors.ts';
import type { CancelTarget } from '../queue/port.ts';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.ts';
import { CANCEL_RETURNING, toCancelTarget, type CancelRow } from './runs.ts';

/** Dispatchers LISTEN here; the payload is the task id. */
export const TASK_CHANGED_CHANNEL = 'hg_task_changed';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SCHEDULE_CHANGED = `(spec ->> 'schedule' IS DISTINCT FROM $3::jsonb ->> 'schedule'
  OR spec ->> 'timeZone' IS DISTINCT FROM $3::jsonb ->> 'timeZone')`;

/** suspend goes from true to false in this update ($3 is the new spec) */
const RESUMED = `(COALESCE((spec ->> 'suspend')::boolean, false) AND NOT COALESCE(($3::jsonb ->> 'suspend')::boolean, false))`;

export interface TaskWrite {
  namespace?: string;
  name: string;
  source?: 'api' | 'kubernetes';
  labels: Record<string, string>;
  spec: TaskSpec;
  /** the writer's clock: a new schedule's anchor (planning never looks before it); the database's when absent */
  at?: Date;
}

export async function createTask(db: Db, input: TaskWrite): Promise<Task> {
  try {
    return await db.transaction(async (tx) => {
      const { rows } = await tx.query<TaskRow>(
        `INSERT INTO hg_tasks (id, namespace, name, source, labels, spec, schedule_anchor)
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, now())) RETURNING ${TASK_COLUMNS}`,
        [randomUUID(), input.namespace ?? '', input.name, input.source ?? 'api', JSON.stringify(input.labels), JSON.stringify(input.spec), input.at?.toISOString() ?? null],
      );
      const task = toTask(rows[0] as TaskRow);
      await notifyChanged(tx, task.id);
      return task;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError(`a task named "${input.name}" already exists`, 'HG_ERR_TASK_EXISTS');
    throw error;
  }
}

export async function findTask(db: Queryable, idOrName: string, namespace = ''): Promise<Task | undefined> {
  const byId = UUID_RE.test(idOrName);
  const { rows } = await db.query<TaskRow>(
    byId
      ? `SELECT ${TASK_COLUMNS} FROM hg_tasks WHERE id = $1 AND deleted_at IS NULL`
      : `SELECT ${TASK_COLUMNS} FROM hg_tasks WHERE namespace = $2 AND name = $1 AND deleted_at IS NULL`,
    byId ? [idOrName] : [idOrName, namespace],
  );
  return rows[0] ? toTask(rows[0]) : undefined;
}

export async function getTask(db: Queryable, idOrName: string, namespace = ''): Promise<Task> {
  const task = await findTask(db, idOrName, namespace);
  if (!task) throw new NotFoundError(`task "${idOrName}" not found`, 'HG_ERR_TASK_NOT_FOUND');
  return task;
}

export async function updateTask(db: Db, id: string, input: Pick<TaskWrite, 'labels' | 'spec' | 'at'>): Promise<Task> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<TaskRow>(
      // A new schedule or time zone starts afresh: no catch-up of fires that belonged to the old one. So does a
      // resume: the fires of a suspension were not missed in downtime, they were not wanted.
      `UPDATE hg_tasks SET labels = $2, spec = $3, generation = generation + 1, updated_at = now(),
              last_scheduled_time = CASE WHEN ${SCHEDULE_CHANGED} OR ${RESUMED} THEN NULL ELSE last_scheduled_time END,
              schedule_anchor = CASE WHEN ${SCHEDULE_CHANGED} OR ${RESUMED} THEN COALESCE($4::timestamptz, now()) ELSE schedule_anchor END
        WHERE id = $1 AND deleted_at IS NULL RETURNING ${TASK_COLUMNS}`,
      [id, JSON.stringify(input.labels), JSON.stringify(input.spec), input.at?.toISOString() ?? null],
    );
    if (!rows[0]) throw new NotFoundError(`task "${id}" not found`, 'HG_ERR_TASK_NOT_FOUND');
    // Runs still waiting follow the task to its new pool (no worker may serve the old one any more). They go
    // back to pending, and the leader hands pending runs to the queue again (promoteDueRuns).
    await tx.query(
      `UPDATE hg_runs SET pool = $2, status = 'pending'
        WHERE task_id = $1 AND status IN ('pending', 'queued') AND pool <> $2`,
      [id, input.spec.pool],
    );
    await notifyChanged(tx, id);
    return toTask(rows[0]);
  });
}

/**
 * Soft delete: the run history stays readable, and dispatchers see the change by updated_at. Its active
 * runs are cancelled; the ids returned are for the caller to tell workers (publishCancel).
 */
export async function deleteTask(db: Db, id: string, at?: Date): Promise<CancelTarget[]> {
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query('UPDATE hg_tasks SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [id]);
    if (rowCount === 0) throw new NotFoundError(`task "${id}" not found`, 'HG_ERR_TASK_NOT_FOUND');
    const { rows } = await tx.query<CancelRow>(
      `UPDATE hg_runs SET status = 'cancelled', finished_at = COALESCE($2::timestamptz, now()), error = 'task deleted', reason = 'TaskDeleted'
        WHERE task_id = $1 AND status IN ('pending', 'queued', 'running') ${CANCEL_RETURNING}`,
      [id, at?.toISOString() ?? null],
    );
    await notifyChanged(tx, id);
    return rows.map(toCancelTarget);
  });
}

/**
 * Locks these tasks' rows FOR SHARE, in id order, before a write that then locks their runs (a Replace
 * fire cancels runs, then inserts): a delete locks the task and then its runs, so a writer taking the
 * runs first could deadlock with it. Returns the live ones as they are under the lock: the dispatcher keeps
 * no spec in memory (schedule-states.ts) and makes its runs from these.
 */
export async function lockTasksForShare(tx: Queryable, ids: string[]): Promise<Map<string, Task>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<TaskRow & { deleted_at: unknown }>(`SELECT ${TASK_COLUMNS} FROM hg_tasks WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE`, [[...new Set(ids)]]);
  return new Map(rows.filter((row) => row.deleted_at === null).map((row) => [row.id, toTask(row)]));
}

export async function listTasks(db: Queryable, options: { limit: number; after?: string }): Promise<Task[]> {
  const { rows } = await db.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM hg_tasks WHERE deleted_at IS NULL AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $1`,
    [options.limit, options.after ?? null],
  );
  return rows.map(toTask);
}

/** The database's clock: watermarks compared with updated_at must not mix clocks of different hosts. */
export async function databaseNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date | string }>('SELECT now() AS now');
  return new Date((rows[0] as { now: Date | string }).now);
}

async function notifyChanged(tx: Queryable, id: string): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [TASK_CHANGED_CHANNEL, id]);
}
