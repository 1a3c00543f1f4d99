import type { CancelTarget } from '../queue/port.ts';
import { dependantsReadiness, lockOnDemandDependants, type Queryable } from '../store/index.ts';
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
  const locked = await lockOnDemandDependants(tx, upstreams);
  if (locked.length === 0) return { requests: [], cancelled: [] };
  // One query for the batch, after the locks: each (dependant, upstream fire) with whether that fire
  // succeeded on every shard and every other dependency's latest fire succeeded. The fire that just finished
  // is judged itself, not the upstream's latest fire: under load the next fire of an upstream is often
  // already pending when the shards of this one finish, and a dependant must still run once for this one.
  const fires = uniqueFires(succeeded);
  const rows = await dependantsReadiness(tx, fires, locked);
  const due: DueFire[] = [];
  const suspended: RunRequest[] = [];
  const decidedSlots = new Set<string>();
  for (const { dependant, allOk, firedAt } of rows) {
    if (!allOk) continue;
    const slot = firedAt.getTime();
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
