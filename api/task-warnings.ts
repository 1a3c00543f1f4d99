import type { Task } from '../core/model/index.ts';
import { compileSchedule } from '../core/schedule/index.ts';
import { liveTaskNames, type Queryable } from '../core/store/index.ts';

/**
 * What will keep a valid task from running as written, for the response, `apply` and lists: a dependsOn
 * naming no task (every fire is skipped, an on-demand dependant never starts) and a schedule with no
 * fire at all (`0 0 30 2 *`), which otherwise looks like an on-demand task. Accepted, but said.
 */
export async function taskWarnings(db: Queryable, tasks: readonly Task[], nowMs: number): Promise<Map<string, string[]>> {
  const wanted = [...new Set(tasks.flatMap((t) => t.spec.dependsOn ?? []))];
  const existing = new Set<string>();
  if (wanted.length > 0) {
    for (const row of await liveTaskNames(db, wanted)) existing.add(`${row.namespace}/${row.name}`);
  }
  const out = new Map<string, string[]>();
  for (const task of tasks) {
    const warnings = specWarnings(task.spec, (name) => existing.has(`${task.namespace}/${name}`), nowMs);
    if (warnings.length > 0) out.set(task.id, warnings);
  }
  return out;
}

/** The sentences for one spec, given which task names exist; `scheduler-cli apply --dry-run` says the same. */
export function specWarnings(spec: { schedule?: string | undefined; timeZone: string; dependsOn?: string[] | undefined }, exists: (name: string) => boolean, nowMs: number): string[] {
  const warnings: string[] = [];
  for (const name of spec.dependsOn ?? []) {
    if (!exists(name)) {
      warnings.push(`dependsOn names "${name}", which does not exist: ${spec.schedule ? 'every fire is skipped' : 'the task never runs'} until a task of that name is created`);
    }
  }
  if (spec.schedule && neverFires(spec.schedule, spec.timeZone, nowMs)) {
    warnings.push(`schedule "${spec.schedule}" never fires (no date matches it): the task runs only when triggered`);
  }
  return warnings;
}

function neverFires(schedule: string, timeZone: string, nowMs: number): boolean {
  try {
    return compileSchedule(schedule, timeZone).next(nowMs) === undefined;
  } catch {
    return false; // refused at write time; not this check's business
  }
}

/** The views with `warnings` added where there are any. */
export async function withWarnings(db: Queryable, tasks: readonly Task[], views: Array<Record<string, unknown>>, nowMs: number): Promise<Array<Record<string, unknown>>> {
  const warnings = await taskWarnings(db, tasks, nowMs);
  return views.map((view, i) => {
    const found = warnings.get(tasks[i]?.id ?? '');
    return found ? { ...view, warnings: found } : view;
  });
}
