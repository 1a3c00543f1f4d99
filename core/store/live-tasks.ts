import type { Task } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { taskColumns, toTask, type TaskRow } from './rows.ts';

/** Tasks by id, leaving out deleted ones: a deleted task's failed attempt is not retried. */
export async function liveTasksById(tx: Queryable, ids: string[]): Promise<Map<string, Task>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<TaskRow>(`SELECT ${taskColumns()} FROM hg_tasks WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL`, [ids]);
  return new Map(rows.map((row) => [row.id, toTask(row)]));
}
