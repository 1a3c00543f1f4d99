import type { RunReason, Task } from '../model/index.ts';
import type { CancelTarget } from '../queue/port.ts';
import { type ActiveRun, activeRunsOf, cancelRuns, latestOutcomes, type Queryable } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import type { RunRequest } from './enqueue.ts';

export interface DueFire {
  task: Task;
  slot: number;
  trigger?: 'schedule' | 'dependency';
}

/**
 * concurrencyPolicy and dependsOn turn each due fire into a run, a skipped record with the reason, or
 * (Replace) a run that first cancels the ones before it, inside the caller's transaction (`db`), which must
 * also write the runs: decided apart, a retry made between the decision and the write ran beside the new fire
 * (simulator seed 44). Every active run of the task counts (manual and dependency runs too, whatever their
 * time), except the run of the very slot being planned: a slot planned again (a retried write, a new leader)
 * must not find, and under Replace cancel, its own run. Fires of one task in the same batch see each other:
 * under Forbid only the first runs, under Replace only the last. Replace's cancellations are the caller's to
 * tell workers (publishCancel) once it committed.
 */
export async function decidePolicies(ctx: CoreContext, db: Queryable, due: DueFire[]): Promise<{ requests: RunRequest[]; cancelled: CancelTarget[] }> {
  const guarded = due.filter(({ task }) => task.spec.concurrencyPolicy !== 'Allow').map(({ task }) => task.id);
  const active = await activeRunsOf(db, [...new Set(guarded)]);
  const outcomes = await dependencyOutcomes(db, due.map(({ task }) => task));
  const requests: RunRequest[] = [];
  const toCancel: string[] = [];
  /** per task, the request of this batch that will be active (Forbid and Replace see it) */
  const planned = new Map<string, RunRequest>();
  for (const { task, slot, trigger = 'schedule' } of [...due].sort((a, b) => a.slot - b.slot)) {
    const scheduledTime = new Date(slot);
    const blockedBy = unmetDependency(task, outcomes);
    if (blockedBy && trigger === 'schedule') {
      requests.push(skipped(task, scheduledTime, trigger, 'DependencyNotMet', blockedBy));
      continue;
    }
    const policy = task.spec.concurrencyPolicy;
    const running = policy === 'Allow' ? [] : active.filter((run) => run.taskId === task.id && !sameSlot(run, slot));
    const earlier = planned.get(task.id);
    if (policy === 'Forbid' && (running.length > 0 || earlier)) {
      const blocker = running[0] ? `run ${running[0].id} is still ${running[0].status}` : `the fire of ${earlier?.scheduledTime.toISOString()} runs first`;
      requests.push(skipped(task, scheduledTime, trigger, 'ConcurrencyForbid', `${blocker} (concurrencyPolicy Forbid)`));
      continue;
    }
    if (policy === 'Replace') {
      toCancel.push(...running.map((run) => run.id));
      // the earlier fire of this batch never starts: recorded as replaced instead of run and cancelled
      if (earlier) earlier.terminal = { status: 'cancelled', error: 'replaced by a newer fire in the same batch (concurrencyPolicy Replace)', reason: 'Replaced' };
    }
    const request: RunRequest = { task, scheduledTime, trigger };
    planned.set(task.id, request);
    requests.push(request);
  }
  const replacing = [...planned.values()].filter((request) => request.task.spec.concurrencyPolicy === 'Replace' && !request.terminal);
  const cancelled = await cancelReplaced(ctx, db, toCancel, replacing);
  return { requests, cancelled };
}

/** how many times Replace looks again for runs that became active while it cancelled (each is a retry of one it cancelled) */
const MAX_REPLACE_ROUNDS = 8;

/**
 * Cancels the runs a Replace fire replaces, then looks again until none is active: an attempt failing in a
 * concurrent transaction holds its row while this cancel waits for it, and then its retry, committed with
 * the failure, is a new active run this statement could not see. The next statement sees it.
 */
async function cancelReplaced(ctx: CoreContext, db: Queryable, runIds: string[], replacing: RunRequest[]): Promise<CancelTarget[]> {
  const cancelled: CancelTarget[] = [];
  const at = new Date(ctx.now());
  const kept = new Set(replacing.map((request) => `${request.task.id}@${request.scheduledTime.getTime()}`));
  const taskIds = [...new Set(replacing.map((request) => request.task.id))];
  let targets = [...new Set(runIds)];
  for (let round = 0; targets.length > 0 && round < MAX_REPLACE_ROUNDS; round++) {
    cancelled.push(...(await cancelRuns(db, targets, 'replaced by a newer run (concurrencyPolicy Replace)', { reason: 'Replaced', at })));
    const again = await activeRunsOf(db, taskIds);
    targets = again.filter((run) => !kept.has(`${run.taskId}@${run.scheduledTime.getTime()}`)).map((run) => run.id);
  }
  return cancelled;
}

function sameSlot(run: ActiveRun, slot: number): boolean {
  return run.scheduledTime.getTime() === slot;
}

function skipped(task: Task, scheduledTime: Date, trigger: RunRequest['trigger'], reason: RunReason, error: string): RunRequest {
  return { task, scheduledTime, trigger, terminal: { status: 'skipped', error, reason } };
}

/** The latest outcome of every task named in a dependsOn of these tasks: one query per namespace, not per task. */
async function dependencyOutcomes(db: Queryable, tasks: Task[]): Promise<Map<string, Map<string, string>>> {
  const byNamespace = new Map<string, Set<string>>();
  for (const task of tasks) {
    for (const name of task.spec.dependsOn) byNamespace.set(task.namespace, (byNamespace.get(task.namespace) ?? new Set()).add(name));
  }
  const out = new Map<string, Map<string, string>>();
  for (const [namespace, names] of byNamespace) out.set(namespace, await latestOutcomes(db, namespace, [...names]));
  return out;
}

function unmetDependency(task: Task, outcomes: Map<string, Map<string, string>>): string | undefined {
  for (const name of task.spec.dependsOn) {
    const outcome = outcomes.get(task.namespace)?.get(name);
    if (outcome !== 'succeeded') return `dependency "${name}" has ${outcome ? `its latest run ${outcome}` : 'not run yet'} (dependsOn)`;
  }
  return undefined;
}

export function missedReason(task: Task, lateMs: number): { error: string; reason: RunReason } {
  if (task.spec.startingDeadlineSeconds !== undefined && lateMs > task.spec.startingDeadlineSeconds * 1000) {
    return {
      error: `fire missed: ${Math.round(lateMs / 1000)}s late, past startingDeadlineSeconds ${task.spec.startingDeadlineSeconds}`,
      reason: 'StartingDeadlineExceeded',
    };
  }
  if (task.spec.catchUp === 'Latest') return { error: 'fire missed during downtime: only the latest is caught up (catchUp Latest)', reason: 'CatchUpLatest' };
  return { error: `fire missed during downtime (catchUp ${task.spec.catchUp})`, reason: 'MissedDuringDowntime' };
}
