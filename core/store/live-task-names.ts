import type { Queryable } from './db.ts';

/**
 * The live (not deleted) tasks bearing any of these names, in whatever namespace: what tells a dependsOn
 * naming no task (api/task-warnings.ts). The caller matches namespaces.
 */
export async function liveTaskNames(db: Queryable, names: string[]): Promise<Array<{ namespace: string; name: string }>> {
  const { rows } = await db.query<{ namespace: string; name: string }>(
    'SELECT namespace, name FROM hg_tasks WHERE deleted_at IS NULL AND name = ANY($1::text[])',
    [names],
  );
  return rows;
}
