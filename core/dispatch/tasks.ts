import { ValidationError, problemsFromZod, splitTaskInput, TaskInput, type Run, type Task } from '../model/index.ts';
import { compileSchedule, validateTimeZone } from '../schedule/index.ts';
import { ConflictError, createTask, deleteTask, dependsOnOf, getRun, getTask, type Queryable, updateTask } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { createRuns, promoteDueRuns } from './enqueue.ts';

/**
 * Task operations shared by the REST API, the CLI and tests: the spec is validated once here, including
 * what zod alone cannot see (a schedule that parses, a known time zone, no dependency cycle).
 */
export async function createTaskFromInput(ctx: CoreContext, body: unknown): Promise<Task> {
  const { name, labels, spec } = splitTaskInput(parseTask(body));
  await checkNoCycle(ctx.db, '', name, spec.dependsOn);
  return createTask(ctx.db, { name, labels, spec, at: new Date(ctx.now()) });
}

export async function replaceTaskFromInput(ctx: CoreContext, idOrName: string, body: unknown): Promise<Task> {
  const current = await getTask(ctx.db, idOrName);
  assertWritable(current);
  const input = parseTask(body);
  if (input.name !== current.name) {
    throw new ValidationError('task', [{ path: 'name', message: `cannot be changed (is "${current.name}"); create a new task instead` }]);
  }
  const { labels, spec } = splitTaskInput(input);
  await checkNoCycle(ctx.db, current.namespace, current.name, spec.dependsOn);
  const task = await updateTask(ctx.db, current.id, { labels, spec, at: new Date(ctx.now()) });
  // runs moved to a new pool went back to pending: hand them to the new pool now rather than at the next reaper pass
  if (spec.pool !== current.spec.pool) {
    await promoteDueRuns(ctx, { pool: spec.pool, handOffGraceMs: 0 }).catch((error: Error) => ctx.logger.warn({ err: error.message }, 'handing moved runs to their new pool failed; the reaper will'));
  }
  return task;
}

export async function deleteTaskByRef(ctx: CoreContext, idOrName: string): Promise<void> {
  const current = await getTask(ctx.db, idOrName);
  assertWritable(current);
  const cancelled = await deleteTask(ctx.db, current.id, new Date(ctx.now()));
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled);
}

/** A manual run, durable in Postgres (and handed to the queue) before this resolves. */
export async function triggerTask(ctx: CoreContext, idOrName: string): Promise<Run> {
  const task = await getTask(ctx.db, idOrName);
  const schedule = task.spec.schedule ? compileSchedule(task.spec.schedule, task.spec.timeZone) : undefined;
  // A manual run's time is its slot key. Two triggers in one millisecond would share it, and a trigger
  // landing exactly on a scheduled fire would take that fire's key: both move to the next millisecond.
  for (let offset = 0; offset < 50; offset++) {
    const at = ctx.now() + offset;
    if (schedule?.next(at - 1) === at) continue;
    // every shard in one statement: a trigger is all of its shards or none of them
    const created = await createRuns(ctx, [{ task, scheduledTime: new Date(at), trigger: 'manual' }]);
    const first = created.find((run) => run.shard === 0);
    if (first) return getRun(ctx.db, first.id);
  }
  throw new ConflictError(`could not create a run for "${task.name}": too many triggers at once`, 'HG_ERR_TRIGGER_BUSY');
}

/**
 * The spec with every problem at once: what zod finds, and whether the schedule and time zone are real,
 * so a client learns of a bad cron and a missing block in one answer. `scheduler-cli apply` runs it before
 * sending anything, so its dry run refuses what the real apply would.
 */
export function parseTask(body: unknown): TaskInput {
  const result = TaskInput.safeParse(body);
  const problems = result.success ? [] : problemsFromZod(result.error);
  const raw = (typeof body === 'object' && body !== null ? body : {}) as { schedule?: unknown; timeZone?: unknown };
  if (!problems.some((p) => p.path === 'schedule' || p.path === 'timeZone')) {
    try {
      checkSchedule(typeof raw.schedule === 'string' ? raw.schedule : undefined, typeof raw.timeZone === 'string' ? raw.timeZone : 'UTC');
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (!result.success || problems.length > 0) throw new ValidationError('task', problems);
  return result.data;
}

/** An on-demand task has no schedule, but its time zone must still be a real one. */
export function checkSchedule(schedule: string | undefined, timeZone: string): void {
  if (schedule === undefined) validateTimeZone(timeZone);
  else compileSchedule(schedule, timeZone);
}

function assertWritable(task: Task): void {
  if (task.source === 'kubernetes') {
    throw new ConflictError(
      `task "${task.name}" is managed by the ScheduledTask ${task.namespace}/${task.name} in Kubernetes; change it with kubectl`,
      'HG_ERR_TASK_READ_ONLY',
    );
  }
}

/** Rejects a dependsOn list that would close a cycle through existing tasks (or name the task itself). */
export async function checkNoCycle(db: Queryable, namespace: string, name: string, dependsOn: string[]): Promise<void> {
  if (dependsOn.includes(name)) throw new ValidationError('task', [{ path: 'dependsOn', message: `a task cannot depend on itself ("${name}")` }]);
  const seen = new Set<string>();
  let frontier = [...dependsOn];
  while (frontier.length > 0) {
    const rows = await dependsOnOf(db, namespace, frontier);
    frontier = [];
    for (const row of rows) {
      for (const dep of row.deps ?? []) {
        if (dep === name) {
          throw new ValidationError('task', [{ path: 'dependsOn', message: `creates a cycle: ${name} -> ${row.name} -> ... -> ${name}` }]);
        }
        if (!seen.has(dep)) {
          seen.add(dep);
          frontier.push(dep);
        }
      }
    }
  }
}
