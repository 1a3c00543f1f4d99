import type { Run, Task } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { RUN_LIST_COLUMNS, TASK_COLUMNS, taskColumns, toRun, toTask, type RunRow, type TaskRow } from './rows.ts';

export interface TaskFilter {
  /** only this namespace ('' = compose/API tasks); absent = every namespace */
  namespace?: string;
  type?: string;
  pool?: string;
  suspended?: boolean;
  /** case-insensitive substring of the name */
  nameContains?: string;
  /** every one of these labels, with these values */
  labels?: Record<string, string>;
}

export interface TaskPage {
  limit: number;
  /** the (namespace, name) of the last task of the previous page */
  after?: { namespace: string; name: string };
}

function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Live tasks ordered by (namespace, name), keyset-paged on that pair so it walks the unique index
 * hg_tasks_name; the filters apply to the rows it walks, the label filter may use hg_tasks_labels.
 */
export async function listTasksFiltered(db: Queryable, filter: TaskFilter, page: TaskPage): Promise<Task[]> {
  const { rows } = await db.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM hg_tasks
      WHERE deleted_at IS NULL
        AND ($1::text IS NULL OR namespace = $1)
        AND ($2::text IS NULL OR spec ->> 'type' = $2)
        AND ($3::text IS NULL OR spec ->> 'pool' = $3)
        AND ($4::boolean IS NULL OR COALESCE((spec ->> 'suspend')::boolean, false) = $4)
        AND ($5::text IS NULL OR name ILIKE $5)
        AND ($6::jsonb IS NULL OR labels @> $6::jsonb)
        AND ($7::text IS NULL OR (namespace, name) > ($7::text, $8::text))
      ORDER BY namespace, name LIMIT $9`,
    [
      filter.namespace ?? null,
      filter.type ?? null,
      filter.pool ?? null,
      filter.suspended ?? null,
      filter.nameContains ? likePattern(filter.nameContains) : null,
      filter.labels && Object.keys(filter.labels).length > 0 ? JSON.stringify(filter.labels) : null,
      page.after?.namespace ?? null,
      page.after?.name ?? null,
      page.limit,
    ],
  );
  return rows.map(toTask);
}

export interface TaskStats {
  days: number;
  total: number;
  byStatus: Record<string, number>;
  /** succeeded / (succeeded + failed + timed_out); null when nothing finished */
  successRate: number | null;
  durationMs: { p50: number | null; p95: number | null; max: number | null };
}

/** Counts and duration percentiles of a task's runs created in the last `days` days, in one statement. */
export async function taskStats(db: Queryable, taskId: string, days: number): Promise<TaskStats> {
  const { rows } = await db.query<{ status: string | null; n: number; p50: number | null; p95: number | null; max: number | null }>(
    `WITH recent AS (
       SELECT status, EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000 AS duration_ms
         FROM hg_runs WHERE task_id = $1 AND created_at >= now() - make_interval(days => $2)
     )
     SELECT status, count(*)::int AS n, NULL::float8 AS p50, NULL::float8 AS p95, NULL::float8 AS max FROM recent GROUP BY status
     UNION ALL
     SELECT NULL, 0,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms),
            max(duration_ms)
       FROM recent WHERE duration_ms IS NOT NULL`,
    [taskId, days],
  );
  const byStatus: Record<string, number> = {};
  let durations = { p50: null as number | null, p95: null as number | null, max: null as number | null };
  for (const row of rows) {
    if (row.status === null) durations = { p50: round(row.p50), p95: round(row.p95), max: round(row.max) };
    else byStatus[row.status] = row.n;
  }
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const succeeded = byStatus.succeeded ?? 0;
  const settled = succeeded + (byStatus.failed ?? 0) + (byStatus.timed_out ?? 0);
  return { days, total, byStatus, successRate: settled === 0 ? null : succeeded / settled, durationMs: durations };
}

function round(value: number | string | null): number | null {
  return value === null ? null : Math.round(Number(value));
}

/** The newest run of each task, in one query over hg_runs_task (for list views). */
export async function latestRunIds(db: Queryable, taskIds: string[]): Promise<Map<string, string>> {
  if (taskIds.length === 0) return new Map();
  const { rows } = await db.query<{ task_id: string; id: string }>(
    `SELECT t.id::text AS task_id, (SELECT r.id::text FROM hg_runs r WHERE r.task_id = t.id ORDER BY r.id DESC LIMIT 1) AS id
       FROM unnest($1::uuid[]) AS t(id)`,
    [taskIds],
  );
  return new Map(rows.filter((r) => r.id !== null).map((r) => [r.task_id, r.id]));
}

export interface TaskCounts {
  total: number;
  suspended: number;
  bySource: Record<string, number>;
}

export async function countTasks(db: Queryable): Promise<TaskCounts> {
  const { rows } = await db.query<{ source: string; n: number; suspended: number }>(
    `SELECT source, count(*)::int AS n, count(*) FILTER (WHERE COALESCE((spec ->> 'suspend')::boolean, false))::int AS suspended
       FROM hg_tasks WHERE deleted_at IS NULL GROUP BY source`,
  );
  return {
    total: rows.reduce((a, r) => a + r.n, 0),
    suspended: rows.reduce((a, r) => a + r.suspended, 0),
    bySource: Object.fromEntries(rows.map((r) => [r.source, r.n])),
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A live task by id or (namespace, name) with its newest run, in one round trip: GET /api/tasks/{id} is
 * the hottest read of the API, and the run is one probe of hg_runs_task.
 */
export async function findTaskWithLastRun(db: Queryable, idOrName: string, namespace = ''): Promise<{ task: Task; lastRun: Run | null } | undefined> {
  const byId = UUID_RE.test(idOrName);
  const { rows } = await db.query<TaskRow & { last_run: RunRow | string | null }>(
    `SELECT ${taskColumns('t')},
            (SELECT row_to_json(lr) FROM (SELECT ${RUN_LIST_COLUMNS} FROM hg_runs r WHERE r.task_id = t.id ORDER BY r.id DESC LIMIT 1) lr) AS last_run
       FROM hg_tasks t
      WHERE t.deleted_at IS NULL AND ${byId ? 't.id = $1::uuid' : 't.namespace = $2 AND t.name = $1'}`,
    byId ? [idOrName] : [idOrName, namespace],
  );
  const row = rows[0];
  if (!row) return undefined;
  const lastRun = typeof row.last_run === 'string' ? (JSON.parse(row.last_run) as RunRow) : row.last_run;
  return { task: toTask(row), lastRun: lastRun ? toRun(lastRun) : null };
}
