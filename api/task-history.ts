import { historyTaskById, historyTaskByName, NotFoundError, type Queryable } from '../core/store/index.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The task whose run history is asked for: the live task of that id or name, else the one deleted last.
 * A delete keeps the history readable (docs/api.md), so the history routes must still find its task.
 */
export async function taskForHistory(db: Queryable, idOrName: string, namespace = ''): Promise<{ id: string }> {
  const task = UUID_RE.test(idOrName) ? await historyTaskById(db, idOrName) : await historyTaskByName(db, idOrName, namespace);
  if (!task) throw new NotFoundError(`task "${idOrName}" not found (neither live nor deleted)`, 'HG_ERR_TASK_NOT_FOUND');
  return task;
}
