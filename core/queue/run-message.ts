/**
 * The one builder of run messages, for every backend (issue 12, defect 16): the brokers' messages are built
 * from the task as the dispatcher fired it, the postgres queue's from the spec captured with the run
 * (hg_run_specs, or hg_runs.spec before migration 0010), both through this function, so a worker receives the same fields whichever queue it is on.
 */
import type { RunMessage } from './port.ts';

/** The parts of a task spec a worker needs (a subset of core/model TaskSpec). */
export interface RunnableSpec {
  type: string;
  shell?: unknown;
  http?: unknown;
  params?: Record<string, unknown>;
  timeoutSeconds: number;
}

export interface RunIdentity {
  runId: string;
  attempt: number;
  taskId: string;
  taskName: string;
  pool: string;
  priority: number;
  shard: number;
  shardTotal: number;
  scheduledTime: Date;
}

export function buildRunMessage(run: RunIdentity, spec: RunnableSpec): RunMessage {
  const block: RunMessage['spec'] = {};
  if (spec.shell) block.shell = spec.shell;
  if (spec.http) block.http = spec.http;
  if (spec.params) block.params = spec.params;
  return {
    runId: run.runId,
    attempt: run.attempt,
    taskId: run.taskId,
    taskName: run.taskName,
    pool: run.pool,
    priority: run.priority,
    type: spec.type,
    spec: block,
    timeoutSeconds: spec.timeoutSeconds,
    shard: run.shard,
    shardTotal: run.shardTotal,
    scheduledTime: run.scheduledTime.toISOString(),
  };
}
