import type { Run, RunReason, RunStatus, RunTrigger, Task, TaskSpec } from '../model/index.ts';

export function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
}

export function ms(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value.getTime() : Date.parse(String(value));
}

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

const TASK_FIELDS = ['namespace', 'name', 'source', 'labels', 'spec', 'generation', 'created_at', 'updated_at', 'last_scheduled_time', 'schedule_anchor', 'deleted_at'];
/** the task columns toTask() reads, optionally qualified by a table alias */
export function taskColumns(alias?: string): string {
  const q = alias ? `${alias}.` : '';
  return [`${q}id::text AS id`, ...TASK_FIELDS.map((f) => `${q}${f}`)].join(', ');
}
export const TASK_COLUMNS = taskColumns();

export interface TaskRow {
  id: string;
  namespace: string;
  name: string;
  source: 'api' | 'kubernetes';
  labels: unknown;
  spec: unknown;
  generation: number | string;
  created_at: unknown;
  updated_at: unknown;
  last_scheduled_time: unknown;
  schedule_anchor: unknown;
  deleted_at: unknown;
}

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    namespace: row.namespace,
    name: row.name,
    source: row.source,
    labels: json<Record<string, string>>(row.labels),
    spec: json<TaskSpec>(row.spec),
    generation: Number(row.generation),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

export const RUN_COLUMNS = `r.id::text AS id, r.task_id::text AS task_id, t.name AS task_name, r.attempt, r.shard, r.shard_total,
  r.scheduled_time, r.trigger, r.status, r.pool, r.priority, r.worker_id, r.queued_at, r.started_at, r.finished_at,
  r.exit_code, r.http_status, r.error, r.reason, r.output`;

/** run columns for lists: output can be megabytes per run and is only served for one run at a time */
export const RUN_LIST_COLUMNS = RUN_COLUMNS.replace('r.output', 'NULL::text AS output');

export interface RunRow {
  id: string;
  task_id: string;
  task_name: string;
  attempt: number;
  shard: number;
  shard_total: number;
  scheduled_time: unknown;
  trigger: RunTrigger;
  status: RunStatus;
  pool: string;
  priority: number;
  worker_id: string | null;
  queued_at: unknown;
  started_at: unknown;
  finished_at: unknown;
  exit_code: number | null;
  http_status: number | null;
  error: string | null;
  reason: RunReason | null;
  output: string | null;
}

export function toRun(row: RunRow): Run {
  const started = ms(row.started_at);
  const finished = ms(row.finished_at);
  return {
    id: row.id,
    taskId: row.task_id,
    taskName: row.task_name,
    attempt: row.attempt,
    shard: row.shard,
    shardTotal: row.shard_total,
    scheduledTime: iso(row.scheduled_time) as string,
    trigger: row.trigger,
    status: row.status,
    pool: row.pool,
    priority: row.priority,
    workerId: row.worker_id,
    queuedAt: iso(row.queued_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    durationMs: started !== null && finished !== null ? finished - started : null,
    exitCode: row.exit_code,
    httpStatus: row.http_status,
    error: row.error,
    reason: row.reason ?? null,
    output: row.output,
  };
}
