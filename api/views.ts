import { redactTaskSecrets } from '../core/config/index.ts';
import type { Run, Task } from '../core/model/index.ts';
import { compileSchedule } from '../core/schedule/index.ts';

/** A task as the REST API shows it: spec fields at the top level, like the input. */
export function taskView(task: Task, lastRun: Run | null, nowMs: number): Record<string, unknown> {
  let nextScheduleTime: string | null = null;
  if (task.spec.schedule && !task.spec.suspend) {
    try {
      const next = compileSchedule(task.spec.schedule, task.spec.timeZone).next(nowMs);
      nextScheduleTime = next === undefined ? null : new Date(next).toISOString();
    } catch {
      nextScheduleTime = null;
    }
  }
  return {
    id: task.id,
    name: task.name,
    ...(task.namespace ? { namespace: task.namespace } : {}),
    labels: task.labels,
    // every TaskRead key sees this: inline credentials (Authorization headers, *_TOKEN env, URL passwords) are hidden
    ...redactTaskSecrets(task.spec),
    source: task.source,
    generation: task.generation,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    nextScheduleTime,
    lastRun,
  };
}

/** The task as a client would write it back (PUT body): name, labels and the spec fields. */
export function taskInputOf(task: Task): Record<string, unknown> {
  return { name: task.name, labels: task.labels, ...task.spec };
}
