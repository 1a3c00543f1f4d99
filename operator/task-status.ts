import type { RunSummary, TaskRunState } from '../core/store/index.ts';
import type { RunStatus, TaskSpec } from '../core/model/index.ts';
import { condition } from './conditions.ts';
import type { Condition, ScheduledTaskStatus, RUN_PHASES } from './crd-status.ts';

export type RunPhase = (typeof RUN_PHASES)[number];

/** Why a ScheduledTask cannot be scheduled as written: terminal for this generation, never retried hot. */
export interface SpecProblem {
  reason: 'InvalidSchedule' | 'UnknownTimeZone' | 'DependencyCycle' | 'PoolInOtherNamespace' | 'InvalidSpec' | 'NameConflict';
  message: string;
}

export interface TaskStatusInput {
  generation: number;
  previous: ScheduledTaskStatus | undefined;
  /** the spec in effect in Hourglass (the last valid one when the current spec has a problem) */
  spec: TaskSpec | undefined;
  taskId: string | undefined;
  problem: SpecProblem | undefined;
  runs: TaskRunState | undefined;
  nextScheduleMs: number | undefined;
  lastTrigger: string | undefined;
  now: Date;
}

const PHASES: Record<RunStatus, RunPhase> = {
  pending: 'Pending', queued: 'Queued', running: 'Running', succeeded: 'Succeeded', failed: 'Failed',
  timed_out: 'TimedOut', cancelled: 'Cancelled', missed: 'Missed', skipped: 'Skipped',
};
export const runPhase = (status: RunStatus): RunPhase => PHASES[status];

function readyCondition(input: TaskStatusInput): Omit<Condition, 'lastTransitionTime'> {
  const observedGeneration = input.generation;
  if (input.problem) return { type: 'Ready', status: 'False', reason: input.problem.reason, message: input.problem.message, observedGeneration };
  const spec = input.spec as TaskSpec;
  if (!spec.schedule) return { type: 'Ready', status: 'True', reason: 'OnDemand', message: 'no schedule: runs only when triggered', observedGeneration };
  if (spec.suspend) return { type: 'Ready', status: 'True', reason: 'Suspended', message: 'scheduled fires are suspended; triggers still run', observedGeneration };
  return { type: 'Ready', status: 'True', reason: 'Scheduled', message: `scheduled by "${spec.schedule}" in ${spec.timeZone}`, observedGeneration };
}

function degradedCondition(input: TaskStatusInput): Omit<Condition, 'lastTransitionTime'> {
  const observedGeneration = input.generation;
  if (!input.problem) return { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'the spec is valid and registered', observedGeneration };
  const keeps = input.spec ? '; the previous valid spec stays in effect' : '';
  return { type: 'Degraded', status: 'True', reason: input.problem.reason, message: `${input.problem.message}${keeps}`, observedGeneration };
}

const activeRef = (run: RunSummary) => ({ runId: run.id, scheduledTime: run.scheduledTime.toISOString(), phase: runPhase(run.status) });

/** The status a ScheduledTask should carry: a pure function of what the reconciler gathered. */
export function desiredTaskStatus(input: TaskStatusInput): ScheduledTaskStatus {
  const conditions = [readyCondition(input), degradedCondition(input)].map((c) => condition(input.previous?.conditions, c, input.now));
  const status: ScheduledTaskStatus = { observedGeneration: input.generation, conditions };
  if (input.taskId) status.taskId = input.taskId;
  const runs = input.runs;
  // a schedule edit resets the task's own record of its last slot: the status keeps the one it showed
  const lastScheduleTime = runs?.lastScheduledTime?.toISOString() ?? input.previous?.lastScheduleTime;
  if (lastScheduleTime) status.lastScheduleTime = lastScheduleTime;
  if (input.nextScheduleMs !== undefined) status.nextScheduleTime = new Date(input.nextScheduleMs).toISOString();
  if (runs?.lastSuccessfulTime) status.lastSuccessfulTime = runs.lastSuccessfulTime.toISOString();
  if (runs && runs.active.length > 0) status.active = runs.active.map(activeRef);
  if (runs) status.activeRuns = runs.active.length;
  const last = runs?.lastFinished;
  if (last) {
    status.lastRun = { runId: last.id, phase: runPhase(last.status), scheduledTime: last.scheduledTime.toISOString(), trigger: last.trigger };
    if (last.finishedAt) status.lastRun.finishedAt = last.finishedAt.toISOString();
  }
  if (input.lastTrigger !== undefined) status.lastTrigger = input.lastTrigger;
  return status;
}

/** A Degraded condition that just became True: the reason to announce with a Warning event. */
export function newProblem(previous: ScheduledTaskStatus | undefined, next: ScheduledTaskStatus): Condition | undefined {
  const before = previous?.conditions?.find((c) => c.type === 'Degraded');
  const after = next.conditions?.find((c) => c.type === 'Degraded');
  if (after?.status !== 'True') return undefined;
  if (before?.status === 'True' && before.reason === after.reason && before.message === after.message) return undefined;
  return after;
}
