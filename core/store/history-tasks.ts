import type { Queryable } from './db.ts';

/**
 * The task whose run history is asked for (api/task-history.ts), deleted or not: a delete keeps the history
 * readable (docs/api.md), so these find deleted tasks too.
 */

/** The task of this id, live or deleted. */
export async function historyTaskById(db: Queryable, id: string): Promise<{ id: string } | undefined> {
  const { rows } = await db.query<{ id: string }>('SELECT id::text AS id FROM hg_tasks WHERE id = $1', [id]);
  return rows[0];
}

/** The live task of this name in the namespace, else the one of that name deleted last. */
export async function historyTaskByName(db: Queryable, name: string, namespace: string): Promise<{ id: string } | undefined> {
  const { rows } = await db.query<{ id: string }>('SELECT id::text AS id FROM hg_tasks WHERE namespace = $2 AND name = $1 ORDER BY deleted_at DESC NULLS FIRST LIMIT 1', [name, namespace]);
  return rows[0];
}
