import type { Task } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { taskColumns, toTask, type TaskRow } from './rows.ts';

/**
 * Locks the live on-demand tasks (no schedule) that depend on these upstream tasks, in id order, inside the
 * caller's transaction; returns their ids. Why the lock: decideDependants in core/dispatch/dependants.ts.
 */
export async function lockOnDemandDependants(tx: Queryable, upstreams: string[]): Promise<Array<{ id: string }>> {
  // The upstreams' names are looked up in the dependsOn index (migration 0011) as one constant array: a join
  // on `? up.name` cannot use it and scanned every task for each history batch.
  const { rows } = await tx.query<{ id: string }>(
    `SELECT d.id::text AS id FROM hg_tasks d
      WHERE d.deleted_at IS NULL AND d.spec -> 'dependsOn' <> '[]'::jsonb
        AND d.spec -> 'dependsOn' ?| ARRAY(SELECT name FROM hg_tasks WHERE id = ANY($1::uuid[]))
        AND NOT d.spec ? 'schedule'
        AND EXISTS (SELECT 1 FROM hg_tasks up WHERE up.id = ANY($1::uuid[]) AND up.namespace = d.namespace AND d.spec -> 'dependsOn' ? up.name)
      ORDER BY d.id FOR UPDATE`,
    [upstreams],
  );
  return rows;
}

/** One fire of an upstream task: the task and the scheduled time of the fire. */
export interface UpstreamFire {
  task_id: string;
  scheduled_time: Date | string;
}

export interface DependantReadiness {
  dependant: Task;
  upstreamId: string;
  firedAt: Date;
  /** the upstream fire succeeded on every shard and every other dependency's latest fire succeeded */
  allOk: boolean;
}

/** Each (dependant among `dependantIds`, upstream fire) with whether the dependant may run for that fire, in (dependant, fire time, upstream) order. */
export async function dependantsReadiness(tx: Queryable, fires: UpstreamFire[], dependantIds: Array<{ id: string }>): Promise<DependantReadiness[]> {
  const { rows } = await tx.query<TaskRow & { upstream_id: string; fired_at: Date | string; all_ok: boolean }>(
    `SELECT ${taskColumns('d')}, up.id::text AS upstream_id, f.at AS fired_at,
            (SELECT count(*) = max(s.shard_total) AND bool_and(s.status = 'succeeded')
               FROM (SELECT DISTINCT ON (r.shard) r.shard, r.shard_total, r.status FROM hg_runs r
                      WHERE r.task_id = up.id AND r.scheduled_time = f.at AND r.status NOT IN ('missed', 'skipped')
                      ORDER BY r.shard, r.attempt DESC) s)
            AND (SELECT bool_and(COALESCE(dep.id = up.id OR hg_latest_outcome(dep.id) = 'succeeded', false))
                        AND count(*) = jsonb_array_length(d.spec -> 'dependsOn')
                   FROM hg_tasks dep
                  WHERE dep.namespace = d.namespace AND dep.deleted_at IS NULL
                    AND dep.name = ANY(ARRAY(SELECT jsonb_array_elements_text(d.spec -> 'dependsOn')))) AS all_ok
       FROM unnest($1::uuid[], $2::timestamptz[]) AS f(up_id, at)
       JOIN hg_tasks up ON up.id = f.up_id
       JOIN hg_tasks d ON d.namespace = up.namespace AND d.deleted_at IS NULL AND d.spec -> 'dependsOn' ? up.name
      WHERE d.id = ANY($3::uuid[])
      ORDER BY d.id, f.at, up.id`,
    [fires.map((f) => f.task_id), fires.map((f) => new Date(f.scheduled_time).toISOString()), dependantIds.map((r) => r.id)],
  );
  return rows.map((row) => ({ dependant: toTask(row), upstreamId: row.upstream_id, firedAt: new Date(row.fired_at), allOk: row.all_ok }));
}
