import type { Run, RunStatus } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { RUN_LIST_COLUMNS, toRun, type RunRow } from './rows.ts';

export interface RunFilter {
  statuses?: RunStatus[];
  taskId?: string;
  pool?: string;
  workerId?: string;
  /** scheduled time, inclusive lower bound */
  from?: Date;
  /** scheduled time, exclusive upper bound */
  to?: Date;
}

/**
 * Runs newest first, keyset-paged on the id (`beforeId` = the last id of the previous page), so page
 * 10,000 costs what page 1 costs; never OFFSET. Output is left out.
 *
 * The index is chosen here, not left to the planner's estimate of how the filtered runs are spread: a
 * task walks hg_runs_task, one status hg_runs_status_id, a pool hg_runs_pool_id, each in id order, and
 * several statuses walk hg_runs_status_id once per status and merge. Left to its estimates, with 10
 * million runs the planner walked the primary key backwards through every newer run of other pools and
 * statuses (100-300 ms a page where this takes a few ms; issue 15). How: the ORDER BY starts with the
 * index's leading column, so only that index gives the order; and that column is bounded as a range
 * (`>= v AND <= v`) rather than `= v`, because an equality would let the planner drop it from the ORDER BY
 * as constant and walk the primary key again.
 */
export async function listRuns(db: Queryable, filter: RunFilter, page: { limit: number; beforeId?: string }): Promise<Run[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const statuses = filter.statuses ?? [];
  const perStatus = statuses.length > 1 && !filter.taskId;
  const leading = filter.taskId ? 'task_id' : statuses.length === 1 && !filter.pool ? 'status' : filter.pool && statuses.length === 0 ? 'pool' : undefined;
  const equal = (column: string, value: string, cast = '') =>
    column === leading ? `r.${column} >= ${bind(value)}${cast} AND r.${column} <= $${params.length}${cast}` : `r.${column} = ${bind(value)}${cast}`;
  if (statuses.length === 1) where.push(equal('status', statuses[0] as string));
  else if (perStatus) where.push(`r.status >= s.status AND r.status <= s.status`);
  else if (statuses.length > 1) where.push(`r.status = ANY(${bind(statuses)}::text[])`);
  if (filter.taskId) where.push(equal('task_id', filter.taskId, '::uuid'));
  if (filter.pool) where.push(equal('pool', filter.pool));
  if (filter.workerId) where.push(`r.worker_id = ${bind(filter.workerId)}`);
  if (filter.from) where.push(`r.scheduled_time >= ${bind(filter.from.toISOString())}::timestamptz`);
  if (filter.to) where.push(`r.scheduled_time < ${bind(filter.to.toISOString())}::timestamptz`);
  if (page.beforeId) where.push(`r.id < ${bind(page.beforeId)}::bigint`);
  const limit = bind(page.limit);
  const conditions = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  if (perStatus) {
    const { rows } = await db.query<RunRow>(
      `SELECT ${RUN_LIST_COLUMNS}
         FROM unnest(${bind(statuses)}::text[]) AS s(status)
        CROSS JOIN LATERAL (SELECT r.* FROM hg_runs r ${conditions} ORDER BY r.status, r.id DESC LIMIT ${limit}) r
         JOIN hg_tasks t ON t.id = r.task_id
        ORDER BY r.id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map(toRun);
  }
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_LIST_COLUMNS} FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      ${conditions}
      ORDER BY ${leading ? `r.${leading}, ` : ''}r.id DESC LIMIT ${limit}`,
    params,
  );
  return rows.map(toRun);
}

export async function runsByIds(db: Queryable, ids: string[]): Promise<Run[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<RunRow>(`SELECT ${RUN_LIST_COLUMNS} FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE r.id = ANY($1::bigint[])`, [ids]);
  return rows.map(toRun);
}

export interface LogChunk {
  seq: number;
  attempt: number;
  stream: 'stdout' | 'stderr';
  chunk: string;
  at: string;
}

/** A run's log chunks in order, after `afterSeq` (exclusive); walks the primary key (run_id, seq). */
export async function runLogs(db: Queryable, runId: string, options: { afterSeq?: number; limit: number }): Promise<LogChunk[]> {
  const { rows } = await db.query<{ seq: number; attempt: number; stream: 'stdout' | 'stderr'; chunk: string; created_at: Date | string }>(
    `SELECT seq, attempt, stream, chunk, created_at FROM hg_run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [runId, options.afterSeq ?? -1, options.limit],
  );
  return rows.map((r) => ({ seq: r.seq, attempt: r.attempt, stream: r.stream, chunk: r.chunk, at: new Date(r.created_at).toISOString() }));
}

/** The run's status only: what a log follower polls between chunks. */
export async function runStatus(db: Queryable, runId: string): Promise<RunStatus | undefined> {
  const { rows } = await db.query<{ status: RunStatus }>('SELECT status FROM hg_runs WHERE id = $1', [runId]);
  return rows[0]?.status;
}

export interface RunCounts {
  /** active runs by status (pending, queued, running), from the partial index hg_runs_active */
  active: Record<string, number>;
  /** runs finished in the last hour by status, from hg_runs_finished */
  lastHour: Record<string, number>;
}

export async function countRuns(db: Queryable): Promise<RunCounts> {
  const { rows } = await db.query<{ scope: string; status: string; n: number }>(
    `SELECT 'active' AS scope, status, count(*)::int AS n FROM hg_runs WHERE status IN ('pending', 'queued', 'running') GROUP BY status
     UNION ALL
     SELECT 'lastHour', status, count(*)::int FROM hg_runs WHERE finished_at IS NOT NULL AND finished_at >= now() - interval '1 hour' GROUP BY status`,
  );
  const out: RunCounts = { active: {}, lastHour: {} };
  for (const row of rows) (row.scope === 'active' ? out.active : out.lastHour)[row.status] = row.n;
  return out;
}
