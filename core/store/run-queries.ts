import type { Run, RunStatus } from '../model/index.ts';
import { ACTIVE, FINISHED, isActive, isFinished } from './status-test.ts';
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
 * A list by status, pool or scheduled time reads two parts and merges them: the finished runs through the
 * history's indexes, which hold finished runs only (migration 0014: a run enters them once, not at each
 * change of status), and the active runs (pending, queued, running) through hg_runs_active. A list by task
 * walks hg_runs_task, which holds every run; a list with none of these filters walks the primary key.
 */
export async function listRuns(db: Queryable, filter: RunFilter, page: { limit: number; beforeId?: string }): Promise<Run[]> {
  const statuses = filter.statuses ?? [];
  if (filter.taskId || (statuses.length === 0 && !filter.pool && !filter.from && !filter.to)) {
    const params: unknown[] = [];
    const where = conditions(filter, page, params, { leading: filter.taskId ? 'task_id' : undefined });
    const { rows } = await db.query<RunRow>(
      `SELECT ${RUN_LIST_COLUMNS} FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id ${where}
        ORDER BY ${filter.taskId ? 'r.task_id, ' : ''}r.id DESC LIMIT ${bindTo(params, page.limit)}`,
      params,
    );
    return rows.map(toRun);
  }
  const finished = statuses.length === 0 ? FINISHED : statuses.filter((status) => FINISHED.includes(status));
  const active = statuses.length === 0 ? [...ACTIVE] : statuses.filter((status) => (ACTIVE as readonly RunStatus[]).includes(status));
  const params: unknown[] = [];
  const limit = bindTo(params, page.limit);
  const parts = [
    ...(finished.length > 0 ? [finishedPart(filter, finished, statuses.length > 0, page, params, limit)] : []),
    ...(active.length > 0 ? [activePart(filter, active, statuses.length > 0, page, params, limit)] : []),
  ];
  const { rows } = await db.query<RunRow>(
    `SELECT ${RUN_LIST_COLUMNS} FROM (${parts.length === 1 ? parts[0] : parts.map((part) => `(${part})`).join(' UNION ALL ')}) r
       JOIN hg_tasks t ON t.id = r.task_id
      ORDER BY r.id DESC LIMIT ${limit}`,
    params,
  );
  return rows.map(toRun);
}

/**
 * Finished runs, through the index of the filter, each walked in id order. Left to its estimates, with 10
 * million runs the planner walked the primary key backwards through every newer run of other pools and
 * statuses (100-300 ms a page where this takes a few ms; issue 15). So the index is chosen here: one status
 * walks hg_runs_status_id, a pool hg_runs_pool_id, and several statuses walk hg_runs_status_id once per
 * status and merge. How: the ORDER BY starts with the index's leading column, so only that index gives the
 * order; that column is bounded as a range (`>= v AND <= v`) rather than `= v`, because an equality would let
 * the planner drop it from the ORDER BY as constant and walk the primary key again; and isFinished spells
 * out the indexes' predicate, which the planner must prove to use them at all.
 */
function finishedPart(filter: RunFilter, statuses: readonly RunStatus[], byStatus: boolean, page: { beforeId?: string }, params: unknown[], limit: string): string {
  if (byStatus && statuses.length > 1) {
    const where = conditions({ ...filter, statuses: undefined }, page, params, { extra: ['r.status >= s.status AND r.status <= s.status', isFinished('r')] });
    return `SELECT r.* FROM unnest(${bindTo(params, statuses)}::text[]) AS s(status)
             CROSS JOIN LATERAL (SELECT r.* FROM hg_runs r ${where} ORDER BY r.status, r.id DESC LIMIT ${limit}) r`;
  }
  const leading = byStatus && !filter.pool ? 'status' : filter.pool && !byStatus ? 'pool' : undefined;
  const where = conditions({ ...filter, statuses: byStatus ? [...statuses] : undefined }, page, params, { leading, extra: [isFinished('r')] });
  return `SELECT r.* FROM hg_runs r ${where} ORDER BY ${leading ? `r.${leading}, ` : ''}r.id DESC LIMIT ${limit}`;
}

/**
 * Active runs: as many as are pending, queued or running (the backlog), found through hg_runs_active (or
 * hg_runs_queue) and sorted. OFFSET 0 keeps the ORDER BY id and the LIMIT out of the subquery: with them,
 * the planner may walk the primary key backwards looking for active runs among millions of finished ones.
 */
function activePart(filter: RunFilter, statuses: readonly RunStatus[], byStatus: boolean, page: { beforeId?: string }, params: unknown[], limit: string): string {
  const where = conditions({ ...filter, statuses: byStatus ? [...statuses] : undefined }, page, params, { extra: [isActive('r')] });
  return `SELECT a.* FROM (SELECT r.* FROM hg_runs r ${where} OFFSET 0) a ORDER BY a.id DESC LIMIT ${limit}`;
}

function bindTo(params: unknown[], value: unknown): string {
  params.push(value);
  return `$${params.length}`;
}

/** The WHERE clause of a filter and a page; `leading` is the column an index walk is forced on (see finishedPart). */
function conditions(filter: RunFilter, page: { beforeId?: string }, params: unknown[], options: { leading?: string; extra?: string[] }): string {
  const bind = (value: unknown) => bindTo(params, value);
  const where: string[] = [...(options.extra ?? [])];
  const equal = (column: string, value: string, cast = '') =>
    column === options.leading ? `r.${column} >= ${bind(value)}${cast} AND r.${column} <= $${params.length}${cast}` : `r.${column} = ${bind(value)}${cast}`;
  const statuses = filter.statuses ?? [];
  if (statuses.length === 1) where.push(equal('status', statuses[0] as string));
  else if (statuses.length > 1) where.push(`r.status = ANY(${bind(statuses)}::text[])`);
  if (filter.taskId) where.push(equal('task_id', filter.taskId, '::uuid'));
  if (filter.pool) where.push(equal('pool', filter.pool));
  if (filter.workerId) where.push(`r.worker_id = ${bind(filter.workerId)}`);
  if (filter.from) where.push(`r.scheduled_time >= ${bind(filter.from.toISOString())}::timestamptz`);
  if (filter.to) where.push(`r.scheduled_time < ${bind(filter.to.toISOString())}::timestamptz`);
  if (page.beforeId) where.push(`r.id < ${bind(page.beforeId)}::bigint`);
  return where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
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
