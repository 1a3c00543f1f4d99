import type { WorkerPoolSpec } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { NotFoundError } from './errors.ts';
import { iso } from './rows.ts';
import { isActive, isFinished } from './status-test.ts';

/** A declared WorkerPool: from the REST API (compose path) or mirrored from Kubernetes by the operator. */
export interface StoredPool {
  namespace: string;
  name: string;
  source: 'api' | 'kubernetes';
  labels: Record<string, string>;
  spec: WorkerPoolSpec;
  createdAt: string;
  updatedAt: string;
}

export interface PoolWrite {
  namespace?: string;
  name: string;
  source?: 'api' | 'kubernetes';
  labels?: Record<string, string>;
  /** already parsed by WorkerPoolSpec, defaults applied */
  spec: WorkerPoolSpec;
}

interface PoolRow {
  namespace: string;
  name: string;
  source: 'api' | 'kubernetes';
  labels: unknown;
  spec: unknown;
  created_at: unknown;
  updated_at: unknown;
  inserted: boolean;
}

const POOL_COLUMNS = 'namespace, name, source, labels, spec, created_at, updated_at';

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

function toPool(row: PoolRow): StoredPool {
  return {
    namespace: row.namespace,
    name: row.name,
    source: row.source,
    labels: json<Record<string, string>>(row.labels),
    spec: json<WorkerPoolSpec>(row.spec),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** Create or replace; `created` tells which (xmax = 0 only on a freshly inserted row). */
export async function upsertPool(db: Queryable, input: PoolWrite): Promise<{ pool: StoredPool; created: boolean }> {
  const { rows } = await db.query<PoolRow>(
    `INSERT INTO hg_pools (namespace, name, source, labels, spec) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (namespace, name) DO UPDATE SET source = excluded.source, labels = excluded.labels, spec = excluded.spec, updated_at = now()
     RETURNING ${POOL_COLUMNS}, (xmax = 0) AS inserted`,
    [input.namespace ?? '', input.name, input.source ?? 'api', JSON.stringify(input.labels ?? {}), JSON.stringify(input.spec)],
  );
  const row = rows[0] as PoolRow;
  return { pool: toPool(row), created: row.inserted };
}

export async function findPool(db: Queryable, name: string, namespace = ''): Promise<StoredPool | undefined> {
  const { rows } = await db.query<PoolRow>(`SELECT ${POOL_COLUMNS}, false AS inserted FROM hg_pools WHERE namespace = $1 AND name = $2`, [namespace, name]);
  return rows[0] ? toPool(rows[0]) : undefined;
}

export async function getPool(db: Queryable, name: string, namespace = ''): Promise<StoredPool> {
  const pool = await findPool(db, name, namespace);
  if (!pool) throw new NotFoundError(`pool "${name}" not found`, 'HG_ERR_POOL_NOT_FOUND');
  return pool;
}

/** Every declared pool, by namespace and name; pools are few (one per kind of worker), so no paging. */
export async function listPools(db: Queryable, namespace?: string): Promise<StoredPool[]> {
  const { rows } = await db.query<PoolRow>(
    `SELECT ${POOL_COLUMNS}, false AS inserted FROM hg_pools WHERE ($1::text IS NULL OR namespace = $1) ORDER BY namespace, name`,
    [namespace ?? null],
  );
  return rows.map(toPool);
}

/** Returns false when there was no such pool. */
export async function deletePool(db: Queryable, name: string, namespace = ''): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM hg_pools WHERE namespace = $1 AND name = $2', [namespace, name]);
  return rowCount > 0;
}

export interface PoolActivity {
  pool: string;
  /** queued + pending runs */
  backlog: number;
  workersAlive: number;
  activeRuns: number;
}

/**
 * Backlog, live workers and running attempts of every pool that has any, in one round trip. Uses the
 * partial index hg_runs_active (only active runs), never the history. `aliveSeconds`: a worker silent
 * longer than this counts as gone even before the reaper marks it DOWN.
 */
export async function poolActivity(db: Queryable, aliveSeconds: number): Promise<Map<string, PoolActivity>> {
  const { rows } = await db.query<{ pool: string; backlog: number; running: number; workers: number }>(
    `WITH runs AS (
       SELECT pool, count(*) FILTER (WHERE status IN ('pending', 'queued'))::int AS backlog,
              count(*) FILTER (WHERE status = 'running')::int AS running
         FROM hg_runs WHERE status IN ('pending', 'queued', 'running') GROUP BY pool
     ), workers AS (
       SELECT pool, count(*)::int AS workers FROM hg_workers
        WHERE status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at >= now() - make_interval(secs => $1) GROUP BY pool
     )
     SELECT COALESCE(r.pool, w.pool) AS pool, COALESCE(r.backlog, 0) AS backlog, COALESCE(r.running, 0) AS running,
            COALESCE(w.workers, 0) AS workers
       FROM runs r FULL JOIN workers w ON w.pool = r.pool`,
    [aliveSeconds],
  );
  return new Map(rows.map((r) => [r.pool, { pool: r.pool, backlog: r.backlog, workersAlive: r.workers, activeRuns: r.running }]));
}

/**
 * Every pool named by a run (ever) or a worker row, for listing pools that were never declared. Finished
 * runs are walked as a loose index scan over hg_runs_pool_id (finished runs only, migration 0014): one probe
 * per distinct pool, not one per run. Active runs are read through hg_runs_active, as many as the backlog.
 */
export async function poolsSeen(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ pool: string }>(
    `WITH RECURSIVE seen AS (
       SELECT min(pool) AS pool FROM hg_runs r WHERE ${isFinished('r')}
       UNION ALL
       SELECT (SELECT min(pool) FROM hg_runs r WHERE ${isFinished('r')} AND r.pool > seen.pool) FROM seen WHERE seen.pool IS NOT NULL
     )
     SELECT pool FROM seen WHERE pool IS NOT NULL
     UNION SELECT pool FROM hg_runs r WHERE ${isActive('r')}
     UNION SELECT pool FROM hg_workers`,
  );
  return rows.map((r) => r.pool).sort();
}
