import { isDeepStrictEqual } from 'node:util';
import type { Task } from '../model/index.ts';
import { ConflictError, createTask, deleteTask, findTask, type KubernetesTaskWrite, NotFoundError, updateTask } from '../store/index.ts';
import { compileSchedule } from '../schedule/index.ts';
import type { CoreContext } from './context.ts';
import { createRuns } from './enqueue.ts';
import { checkNoCycle, checkSchedule } from './tasks.ts';

/**
 * What the Kubernetes operator changes through the core: ScheduledTasks kept in hg_tasks by (namespace, name)
 * with source 'kubernetes', created, updated, deleted and triggered one by one with the checks of the REST
 * path. The bulk reads and writes of a sync and the reads behind its statuses are in core/store
 * (kubernetes-tasks.ts, task-run-states.ts, kubernetes-run-changes.ts, kubernetes-pools.ts).
 */

export interface UpsertResult {
  task: Task;
  /** false when the stored task already had this spec and labels (a resync): nothing was written */
  changed: boolean;
}

/**
 * Creates or updates the task of a ScheduledTask. Idempotent: the same spec twice writes nothing, so a
 * level-triggered reconciler may call it on every pass. A schedule or time zone that does not compile
 * throws ScheduleError (reason InvalidSchedule / UnknownTimeZone), and a dependsOn that closes a cycle
 * a ValidationError on dependsOn, before anything is written.
 */
export async function upsertKubernetesTask(ctx: CoreContext, write: KubernetesTaskWrite): Promise<UpsertResult> {
  checkSchedule(write.spec.schedule, write.spec.timeZone);
  // a cycle of on-demand tasks would trigger itself forever once one of them ran
  await checkNoCycle(ctx.db, write.namespace, write.name, write.spec.dependsOn);
  for (let attempt = 0; ; attempt++) {
    const current = await findTask(ctx.db, write.name, write.namespace);
    if (current && current.namespace !== write.namespace) throw new Error(`task lookup for ${write.namespace}/${write.name} returned another task`);
    if (current?.source === 'api') {
      throw new ConflictError(`task ${write.namespace}/${write.name} exists and is managed through the REST API`, 'HG_ERR_TASK_EXISTS');
    }
    if (current) {
      if (isDeepStrictEqual(current.spec, write.spec) && isDeepStrictEqual(current.labels, write.labels)) return { task: current, changed: false };
      return { task: await updateTask(ctx.db, current.id, { labels: write.labels, spec: write.spec }), changed: true };
    }
    try {
      return { task: await createTask(ctx.db, { ...write, source: 'kubernetes' }), changed: true };
    } catch (error) {
      // another operator replica created it between our read and our insert: read it again
      if (!(error instanceof ConflictError) || attempt > 0) throw error;
    }
  }
}

/** Deletes the task of a ScheduledTask (history stays readable) and cancels its active runs. Returns how many. */
export async function deleteKubernetesTask(ctx: CoreContext, namespace: string, name: string): Promise<number> {
  const current = await findTask(ctx.db, name, namespace);
  if (!current || current.source !== 'kubernetes' || current.namespace !== namespace) return 0;
  let cancelled;
  try {
    cancelled = await deleteTask(ctx.db, current.id);
  } catch (error) {
    // deleted meanwhile by another path (the watch's DELETED and the orphan sweep after a list may meet)
    if (error instanceof NotFoundError) return 0;
    throw error;
  }
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled);
  return cancelled.length;
}

/**
 * The time a manual run of the task gets as its slot key: now, moved past a scheduled slot of the task
 * landing on the same millisecond (that key belongs to the schedule).
 */
export function manualRunTime(task: Task, nowMs: number): Date {
  let at = nowMs;
  try {
    const schedule = task.spec.schedule ? compileSchedule(task.spec.schedule, task.spec.timeZone) : undefined;
    while (schedule?.next(at - 1) === at) at += 1;
  } catch {
    // an uncompilable schedule fires nothing: no slot to avoid
  }
  return new Date(at);
}

/**
 * A manual run (all shards) at a time chosen beforehand and remembered by the caller: calling it again
 * with the same time is a no-op (the run key is task, time, shard), so an operator that crashed between
 * creating the run and recording it cannot trigger twice. Returns how many runs were created now.
 */
export async function triggerKubernetesTask(ctx: CoreContext, task: Task, at: Date): Promise<number> {
  const created = await createRuns(ctx, [{ task, scheduledTime: at, trigger: 'manual' }]);
  return created.length;
}
