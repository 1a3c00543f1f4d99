import type { Queryable } from './db.ts';

/** What the operator's WorkerPool reconciler reads: who owns a pool name, who uses it, and how loaded it is. */

/** The namespaces whose WorkerPool of this name the operator mirrored (a pool name belongs to one namespace). */
export async function kubernetesPoolNamespaces(db: Queryable, name: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(`SELECT namespace FROM hg_pools WHERE name = $1 AND source = 'kubernetes' ORDER BY namespace`, [name]);
  return rows.map((row) => row.namespace);
}

/** Namespaces other than `namespace` whose ScheduledTasks use the pool `name` (they would reach its workers). */
export async function otherNamespacesUsingPool(db: Queryable, name: string, namespace: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(
    `SELECT DISTINCT namespace FROM hg_tasks WHERE source = 'kubernetes' AND deleted_at IS NULL AND spec ->> 'pool' = $1 AND namespace <> $2 ORDER BY namespace`,
    [name, namespace],
  );
  return rows.map((row) => row.namespace);
}

/** Every mirrored WorkerPool name -> the namespaces holding one (an initial sync checks its tasks at once). */
export async function kubernetesPoolOwners(db: Queryable): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ name: string; namespace: string }>(`SELECT name, namespace FROM hg_pools WHERE source = 'kubernetes'`);
  const owners = new Map<string, string[]>();
  for (const row of rows) owners.set(row.name, [...(owners.get(row.name) ?? []), row.namespace]);
  return owners;
}

export interface PoolLoad {
  /** runs waiting for a worker of the pool (retries still backing off are not counted) */
  backlog: number;
  activeRuns: number;
  /** live workers of the pool by hostname (the pod name in Kubernetes) with the runs each holds */
  workers: Array<{ id: string; hostname: string; activeRuns: number; draining: boolean }>;
}

export async function poolLoad(db: Queryable, pool: string): Promise<PoolLoad> {
  const { rows } = await db.query<{ backlog: string; active: string; workers: unknown }>(
    `SELECT count(*) FILTER (WHERE r.status = 'queued' OR (r.status = 'pending' AND (r.not_before IS NULL OR r.not_before <= now())))::text AS backlog,
            count(*) FILTER (WHERE r.status = 'running')::text AS active,
            (SELECT coalesce(json_agg(json_build_object('id', w.id, 'hostname', w.hostname, 'activeRuns', w.active_runs, 'draining', w.status = 'DRAINING')), '[]')
               FROM hg_workers w WHERE w.pool = $1 AND w.status NOT IN ('DOWN', 'STOPPED')) AS workers
       FROM hg_runs r WHERE r.pool = $1 AND r.status IN ('pending', 'queued', 'running')`,
    [pool],
  );
  const row = rows[0];
  const workers = typeof row?.workers === 'string' ? JSON.parse(row.workers) : (row?.workers ?? []);
  return { backlog: Number(row?.backlog ?? 0), activeRuns: Number(row?.active ?? 0), workers: workers as PoolLoad['workers'] };
}
