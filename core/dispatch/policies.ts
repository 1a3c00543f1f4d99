import type { Task } from '../model/index.ts';
import { activeRunsOf, cancelRuns, latestOutcomes } from '../store/runs.ts';
import type { CoreContext } from './context.ts';
import type { RunRequest } from './enqueue.ts';

/**
 * concurrencyPolicy and dependsOn turn each due fire into a run, a skipped record with the reason, or
 * (Replace) a run that first cancels the one before it.
 */
export async function applyPolicies(ctx: CoreContext, due: Array<{ task: Task; slot: number }>): Promise<RunRequest[]> {
  const guarded = due.filter(({ task }) => task.spec.concurrencyPolicy !== 'Allow').map(({ task }) => task.id);
  const active = await activeRunsOf(ctx.db, [...new Set(guarded)]);
  const requests: RunRequest[] = [];
  const toCancel: string[] = [];
  for (const { task, slot } of due) {
    const scheduledTime = new Date(slot);
    const blockedBy = await unmetDependency(ctx, task);
    if (blockedBy) {
      requests.push({ task, scheduledTime, trigger: 'schedule', terminal: { status: 'skipped', error: blockedBy } });
      continue;
    }
    // only runs of earlier slots count: a slot planned again (a retried write, a new leader) must not
    // find, and under Replace cancel, its own run
    const running = active.filter((run) => run.taskId === task.id && run.scheduledTime.getTime() < slot);
    if (running.length > 0 && task.spec.concurrencyPolicy === 'Forbid') {
      const [first] = running;
      requests.push({ task, scheduledTime, trigger: 'schedule', terminal: { status: 'skipped', error: `run ${first?.id} is still ${first?.status} (concurrencyPolicy Forbid)` } });
      continue;
    }
    if (running.length > 0 && task.spec.concurrencyPolicy === 'Replace') toCancel.push(...running.map((run) => run.id));
    requests.push({ task, scheduledTime, trigger: 'schedule' });
  }
  if (toCancel.length > 0) {
    const cancelled = await cancelRuns(ctx.db, toCancel, 'replaced by a newer run (concurrencyPolicy Replace)');
    await ctx.queue.publishCancel(cancelled);
  }
  return requests;
}

async function unmetDependency(ctx: CoreContext, task: Task): Promise<string | undefined> {
  if (task.spec.dependsOn.length === 0) return undefined;
  const outcomes = await latestOutcomes(ctx.db, task.namespace, task.spec.dependsOn);
  for (const name of task.spec.dependsOn) {
    const outcome = outcomes.get(name);
    if (outcome !== 'succeeded') return `dependency "${name}" has ${outcome ? `its latest run ${outcome}` : 'not run yet'} (dependsOn)`;
  }
  return undefined;
}

export function missedReason(task: Task, lateMs: number): string {
  if (task.spec.startingDeadlineSeconds !== undefined && lateMs > task.spec.startingDeadlineSeconds * 1000) {
    return `fire missed: ${Math.round(lateMs / 1000)}s late, past startingDeadlineSeconds ${task.spec.startingDeadlineSeconds}`;
  }
  return `fire missed during downtime (catchUp ${task.spec.catchUp})`;
}
