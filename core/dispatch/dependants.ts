import type { CancelTarget } from '../queue/port.ts';
import type { Queryable } from '../store/db.ts';
import { taskColumns, toTask, type TaskRow } from '../store/rows.ts';
import type { CoreContext } from './context.ts';
import type { RunRequest } from './enqueue.ts';
import { decidePolicies, type DueFire } from './policies.ts';

/** An attempt that just succeeded, as finishAttempts saw it. */
export interface SucceededAttempt {
  task_id: string;
  scheduled_time: Date | string;
}

/**
 * The runs of on-demand tasks whose dependencies all succeeded now, inside the transaction that recorded
 * the success (`tx`). Each dependant's row is locked first, in id order: two transactions finishing sibling
 * shards, or two upstreams of one dependant, then decide one after the other, and under READ COMMITTED the
 * second one's next statement sees what the first committed. Without the lock each saw the other still
 * running and neither made the run. Dependency runs go through concurrencyPolicy like scheduled fires;
 * Replace's cancellations are returned for the caller to tell workers after commit.
 */
export async function decideDependants(ctx: CoreContext, tx: Queryable, succeeded: SucceededAttempt[]): Promise<{ requests: RunRequest[]; cancelled: CancelTarget[] }> {
  const upstreams = [...new Set(succeeded.map((r) => r.task_id))];
  const { rows: locked } = await tx.query<{ id: string }>(
    `SELECT d.id::text AS id FROM hg_tasks up
       JOIN hg_tasks d ON d.namespace = up.namespace AND d.deleted_at IS NULL AND d.spec -> 'dependsOn' ? up.name AND NOT d.spec ? 'schedule'
      WHERE up.id = ANY($1::uuid[]) ORDER BY d.id FOR UPDATE OF d`,
    [upstreams],
  );
  if (locked.length === 0) return { requests: [], cancelled: [] };
  // one query for the batch, after the locks: each dependant with whether every dependency's latest fire succeeded
  const { rows } = await tx.query<TaskRow & { upstream_id: string; all_ok: boolean }>(
    `SELECT DISTINCT ON (d.id) ${taskColumns('d')}, up.id::text AS upstream_id,
            (SELECT bool_and(COALESCE(hg_latest_outcome(dep.id) = 'succeeded', false))
                    AND count(*) = jsonb_array_length(d.spec -> 'dependsOn')
               FROM hg_tasks dep
              WHERE dep.namespace = d.namespace AND dep.deleted_at IS NULL
                AND d.spec -> 'dependsOn' ? dep.name) AS all_ok
       FROM hg_tasks up
       JOIN hg_tasks d ON d.namespace = up.namespace AND d.deleted_at IS NULL AND d.spec -> 'dependsOn' ? up.name
      WHERE up.id = ANY($1::uuid[]) AND d.id = ANY($2::uuid[])
      ORDER BY d.id, up.id`,
    [upstreams, locked.map((r) => r.id)],
  );
  const due: DueFire[] = [];
  const suspended: RunRequest[] = [];
  for (const row of rows) {
    const dependant = toTask(row);
    if (!row.all_ok) continue;
    const fired = succeeded.find((r) => r.task_id === row.upstream_id) as SucceededAttempt;
    const slot = new Date(fired.scheduled_time).getTime();
    // recorded, not dropped: the trigger is accounted for, with why it did not run
    if (dependant.spec.suspend) {
      suspended.push({ task: dependant, scheduledTime: new Date(slot), trigger: 'dependency', terminal: { status: 'skipped', error: 'the task is suspended', reason: 'Suspended' } });
    } else due.push({ task: dependant, slot, trigger: 'dependency' });
  }
  if (due.length === 0) return { requests: suspended, cancelled: [] };
  const decided = await decidePolicies(ctx, tx, due);
  return { requests: [...suspended, ...decided.requests], cancelled: decided.cancelled };
}
