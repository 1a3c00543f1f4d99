import { randomUUID } from 'node:crypto';
import type { Task, TaskSpec } from '../model/index.ts';
import { inChunks } from './bulk-chunks.ts';
import type { Db, Queryable } from './db.ts';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.ts';
import { TASK_CHANGED_CHANNEL } from './tasks.ts';

/**
 * ScheduledTasks kept in hg_tasks by (namespace, name) with source 'kubernetes': the bulk reads and writes
 * of an operator's sync, and the list its orphan sweep deletes from.
 */

export interface KubernetesTaskWrite {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: TaskSpec;
}

const taskKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** The live tasks (any source) of many "namespace/name" keys, one round trip per chunk: an initial sync reads them all at once. */
export async function findTasksByKey(db: Queryable, keys: Array<{ namespace: string; name: string }>): Promise<Map<string, Task>> {
  const found = new Map<string, Task>();
  for (const chunk of inChunks(keys)) {
    const { rows } = await db.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM hg_tasks
        WHERE deleted_at IS NULL AND (namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [chunk.map((k) => k.namespace), chunk.map((k) => k.name)],
    );
    for (const row of rows) found.set(taskKey(row.namespace, row.name), toTask(row));
  }
  return found;
}

/**
 * Creates the tasks of many new ScheduledTasks (an operator's initial sync) in one transaction with one
 * INSERT per chunk, and tells dispatchers about them in one statement. The caller has checked schedules
 * and that none has dependsOn (cycle checks stay with upsertKubernetesTask); a name taken meanwhile is
 * skipped, not an error, and is absent from the result, so the caller falls back to the one-by-one path.
 */
export async function createKubernetesTasks(db: Db, writes: KubernetesTaskWrite[]): Promise<Map<string, Task>> {
  const created = new Map<string, Task>();
  if (writes.length === 0) return created;
  await db.transaction(async (tx) => {
    for (const chunk of inChunks(writes)) {
      const { rows } = await tx.query<TaskRow>(
        `INSERT INTO hg_tasks (id, namespace, name, source, labels, spec)
         SELECT id, namespace, name, 'kubernetes', labels, spec FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[]) AS w(id, namespace, name, labels, spec)
         ON CONFLICT DO NOTHING RETURNING ${TASK_COLUMNS}`,
        [chunk.map(() => randomUUID()), chunk.map((w) => w.namespace), chunk.map((w) => w.name), chunk.map((w) => JSON.stringify(w.labels)), chunk.map((w) => JSON.stringify(w.spec))],
      );
      for (const row of rows) created.set(taskKey(row.namespace, row.name), toTask(row));
      await tx.query('SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id', [TASK_CHANGED_CHANNEL, rows.map((r) => r.id)]);
    }
  });
  return created;
}

export interface KubernetesTaskRef {
  id: string;
  namespace: string;
  name: string;
}

/** Live kubernetes tasks, optionally of some namespaces only: the operator deletes those whose resource is gone. */
export async function listKubernetesTasks(db: Queryable, namespaces?: string[]): Promise<KubernetesTaskRef[]> {
  const { rows } = await db.query<KubernetesTaskRef>(
    `SELECT id::text AS id, namespace, name FROM hg_tasks
      WHERE source = 'kubernetes' AND deleted_at IS NULL AND ($1::text[] IS NULL OR namespace = ANY($1::text[]))`,
    [namespaces && namespaces.length > 0 ? namespaces : null],
  );
  return rows;
}
