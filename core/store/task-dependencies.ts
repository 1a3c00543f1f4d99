import type { Queryable } from './db.ts';

export interface TaskDependencies {
  name: string;
  deps: string[] | null;
}

/** The dependsOn lists of the live tasks of a namespace with these names (one step of a cycle check). */
export async function dependsOnOf(db: Queryable, namespace: string, names: string[]): Promise<TaskDependencies[]> {
  const { rows } = await db.query<TaskDependencies>(
    `SELECT name, ARRAY(SELECT jsonb_array_elements_text(spec -> 'dependsOn')) AS deps
         FROM hg_tasks WHERE namespace = $1 AND name = ANY($2::text[]) AND deleted_at IS NULL`,
    [namespace, names],
  );
  return rows;
}
