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
  // The upstreams' names are looked up in the dependsOn index (migration 0011) as one constant array: a join
  // on `? up.name` cannot use it and scanned every task for each history batch.
  const { rows: locked } = await tx.query<{ id: string }>(
    `SELECT d.id::text AS id FROM hg_tasks d
      WHERE d.deleted_at IS NULL AND d.spec -> 'dependsOn' <> '[]'::jsonb
        AND d.spec -> 'dependsOn' ?| ARRAY(SELECT name FROM hg_tasks WHERE id = ANY($1::uuid[]))
        AND NOT d.spec ? 'schedule'
        AND EXISTS (SELECT 1 FROM hg_tasks up WHERE up.id = ANY($1::uuid[]) AND up.namespace = d.namespace AND d.spec -> 'dependsOn' ? up.name)
      ORDER BY d.id FOR UPDATE`,
    [upstreams],
  );
  if (locked.length === 0) return { requests: [], cancelled: [] };
  // One query for the batch, after the locks: each (dependant, upstream fire) with whether that fire
  // succeeded on every shard and every other dependency's latest fire succeeded. The fire that just finished
  // is judged itself, not the upstream's latest fire: under load the next fire of an upstream is often
  // already pending when the shards of this one finish, and a dependant must still run once for this one.
  const fires = uniqueFires(succeeded);
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
    [fires.map((f) => f.task_id), fires.map((f) => new Date(f.scheduled_time).toISOString()), locked.map((r) => r.id)],
  );
  const due: DueFire[] = [];
  const suspended: RunRequest[] = [];
  const decidedSlots = new Set<string>();
  for (const row of rows) {
    const dependant = toTask(row);
    if (!row.all_ok) continue;
    const slot = new Date(row.fired_at).getTime();
    // two upstreams of one dependant fired at the same instant make one dependant run
    if (decidedSlots.has(`${dependant.id}@${slot}`)) continue;
    decidedSlots.add(`${dependant.id}@${slot}`);
    // recorded, not dropped: the trigger is accounted for, with why it did not run
    if (dependant.spec.suspend) {
      suspended.push({ task: dependant, scheduledTime: new Date(slot), trigger: 'dependency', terminal: { status: 'skipped', error: 'the task is suspended', reason: 'Suspended' } });
    } else due.push({ task: dependant, slot, trigger: 'dependency' });
  }
  if (due.length === 0) return { requests: suspended, cancelled: [] };
  const decided = await decidePolicies(ctx, tx, due);
  return { requests: [...suspended, ...decided.requests], cancelled: decided.cancelled };
}

/** one entry per upstream fire, however many of its shards finished in the batch */
function uniqueFires(succeeded: SucceededAttempt[]): SucceededAttempt[] {
  const seen = new Map<string, SucceededAttempt>();
  for (const attempt of succeeded) seen.set(`${attempt.task_id}@${new Date(attempt.scheduled_time).getTime()}`, attempt);
  return [...seen.values()];
}
