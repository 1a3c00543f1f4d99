import type { Worker, WorkerStatus } from '../model/index.ts';
import type { StatusEvent } from '../queue/port.ts';
import type { Queryable } from './db.ts';
import { NotFoundError } from './errors.ts';
import { iso } from './rows.ts';

interface WorkerRow {
  id: string;
  pool: string;
  task_types: unknown;
  status: WorkerStatus;
  concurrency: number;
  active_runs: number;
  hostname: string;
  version: string;
  started_at: unknown;
  last_heartbeat_at: unknown;
}

/**
 * The status a client should see: a worker silent longer than `aliveSeconds` is DOWN even before the
 * leader's reaper has written it, so the answer does not depend on whether a dispatcher runs. STOPPED is a
 * worker that said goodbye after draining (a clean stop), DOWN one that went silent.
 */
const EFFECTIVE_STATUS = `CASE WHEN status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at < now() - make_interval(secs => $1) THEN 'DOWN' ELSE status END`;
const WORKER_COLUMNS = `id, pool, task_types, ${EFFECTIVE_STATUS} AS status, concurrency, active_runs, hostname, version, started_at, last_heartbeat_at`;

function toWorker(row: WorkerRow): Worker {
  const taskTypes = typeof row.task_types === 'string' ? (JSON.parse(row.task_types) as string[]) : (row.task_types as string[]);
  return {
    id: row.id,
    pool: row.pool,
    taskTypes,
    status: row.status,
    concurrency: row.concurrency,
    activeRuns: row.active_runs,
    loadPercentage: row.concurrency > 0 ? Math.round((row.active_runs / row.concurrency) * 1000) / 10 : 0,
    hostname: row.hostname,
    version: row.version,
    startedAt: iso(row.started_at) as string,
    lastHeartbeatAt: iso(row.last_heartbeat_at) as string,
  };
}

export interface WorkerFilter {
  status?: WorkerStatus;
  pool?: string;
}

/** Workers by id, keyset-paged on the primary key. */
export async function listWorkers(db: Queryable, aliveSeconds: number, filter: WorkerFilter, page: { limit: number; afterId?: string }): Promise<Worker[]> {
  const { rows } = await db.query<WorkerRow>(
    `SELECT * FROM (SELECT ${WORKER_COLUMNS} FROM hg_workers WHERE ($3::text IS NULL OR pool = $3) AND ($4::text IS NULL OR id > $4)) w
      WHERE ($2::text IS NULL OR status = $2) ORDER BY id LIMIT $5`,
    [aliveSeconds, filter.status ?? null, filter.pool ?? null, page.afterId ?? null, page.limit],
  );
  return rows.map(toWorker);
}

export async function getWorker(db: Queryable, aliveSeconds: number, id: string): Promise<Worker> {
  const { rows } = await db.query<WorkerRow>(`SELECT ${WORKER_COLUMNS} FROM hg_workers WHERE id = $2`, [aliveSeconds, id]);
  if (!rows[0]) throw new NotFoundError(`worker "${id}" not found`, 'HG_ERR_WORKER_NOT_FOUND');
  return toWorker(rows[0]);
}

/**
 * Marks a worker DRAINING and returns it as marked; undefined for a worker that is gone (DOWN or silent),
 * which cannot be drained. A heartbeat of the same process that still says ALIVE (sent before the drain
 * reached it) does not undo the mark: a process never leaves DRAINING.
 */
export async function markDraining(db: Queryable, aliveSeconds: number, id: string): Promise<Worker | undefined> {
  const { rows } = await db.query<WorkerRow>(
    `UPDATE hg_workers SET status = 'DRAINING' WHERE id = $2 AND status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at >= now() - make_interval(secs => $1)
     RETURNING ${WORKER_COLUMNS}`,
    [aliveSeconds, id],
  );
  return rows[0] && toWorker(rows[0]);
}

export interface WorkerStats {
  hours: number;
  byStatus: Record<string, number>;
  durationMs: { p50: number | null; p95: number | null };
}

/** What a worker finished in the last `hours` hours: walks hg_runs_finished for the window, not the history. */
export async function workerStats(db: Queryable, id: string, hours: number): Promise<WorkerStats> {
  const { rows } = await db.query<{ status: string | null; n: number; p50: number | null; p95: number | null }>(
    `WITH recent AS (
       SELECT status, EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000 AS duration_ms FROM hg_runs
        WHERE finished_at IS NOT NULL AND finished_at >= now() - make_interval(hours => $2) AND worker_id = $1
     )
     SELECT status, count(*)::int AS n, NULL::float8 AS p50, NULL::float8 AS p95 FROM recent GROUP BY status
     UNION ALL
     SELECT NULL, 0, percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
       FROM recent WHERE duration_ms IS NOT NULL`,
    [id, hours],
  );
  const byStatus: Record<string, number> = {};
  let durationMs: WorkerStats['durationMs'] = { p50: null, p95: null };
  for (const row of rows) {
    if (row.status === null) durationMs = { p50: row.p50 === null ? null : Math.round(row.p50), p95: row.p95 === null ? null : Math.round(row.p95) };
    else byStatus[row.status] = row.n;
  }
  return { hours, byStatus, durationMs };
}

/** Live workers and their load, for the workers_alive and worker_load_percentage gauges (one small query). */
export async function liveWorkerLoad(db: Queryable, aliveSeconds: number): Promise<Array<{ id: string; pool: string; load: number }>> {
  const { rows } = await db.query<{ id: string; pool: string; load: number }>(
    `SELECT id, pool, CASE WHEN concurrency > 0 THEN active_runs * 100.0 / concurrency ELSE 0 END::float8 AS load
       FROM hg_workers WHERE status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at >= now() - make_interval(secs => $1)`,
    [aliveSeconds],
  );
  return rows.map((r) => ({ id: r.id, pool: r.pool, load: Number(r.load) }));
}

type Heartbeat = Extract<StatusEvent, { kind: 'heartbeat' }>;

/** a worker whose last heartbeat is this recent is live: another process may not take its id meanwhile */
export const DUPLICATE_WINDOW_SECONDS = 30;

/**
 * Upserts each worker's row from its heartbeat, stamped with the core's clock (`now`), never the worker's.
 * A worker that says DOWN stopped cleanly and is recorded STOPPED. Returns the worker ids refused because
 * another process (another incarnation) holds the id and is live: its row is left untouched.
 */
export async function recordWorkerHeartbeats(db: Queryable, beats: Heartbeat[], now: Date): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO hg_workers AS w (id, pool, task_types, status, concurrency, active_runs, held_runs, hostname, version, started_at, incarnation, public_key, last_heartbeat_at)
     SELECT id, pool, task_types::jsonb, CASE WHEN status = 'DOWN' THEN 'STOPPED' ELSE status END, concurrency, active_runs, held_runs::jsonb,
            hostname, version, started_at, incarnation, public_key, $12
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[], $14::text[])
            AS u(id, pool, task_types, status, concurrency, active_runs, hostname, version, started_at, held_runs, incarnation, public_key)
     ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, task_types = excluded.task_types,
       status = CASE WHEN w.status = 'DRAINING' AND excluded.status = 'ALIVE' AND w.incarnation IS NOT DISTINCT FROM excluded.incarnation THEN w.status ELSE excluded.status END,
       concurrency = excluded.concurrency, active_runs = excluded.active_runs, held_runs = excluded.held_runs,
       hostname = excluded.hostname, version = excluded.version, started_at = excluded.started_at,
       incarnation = excluded.incarnation, last_heartbeat_at = excluded.last_heartbeat_at,
       -- a process keeps the key it registered with; a new incarnation brings its own
       public_key = CASE WHEN w.incarnation IS NOT DISTINCT FROM excluded.incarnation AND w.public_key IS NOT NULL THEN w.public_key ELSE excluded.public_key END
     WHERE w.incarnation IS NULL OR w.incarnation = excluded.incarnation
        OR w.status IN ('DOWN', 'STOPPED') OR w.last_heartbeat_at < $12::timestamptz - make_interval(secs => $13)
     RETURNING id`,
    [
      beats.map((b) => b.workerId),
      beats.map((b) => b.pool),
      beats.map((b) => JSON.stringify(b.taskTypes)),
      beats.map((b) => b.status),
      beats.map((b) => b.concurrency),
      beats.map((b) => b.activeRuns),
      beats.map((b) => b.hostname),
      beats.map((b) => b.version),
      beats.map((b) => b.startedAt),
      beats.map((b) => JSON.stringify(b.held ?? [])),
      beats.map((b) => b.incarnation ?? null),
      now.toISOString(),
      DUPLICATE_WINDOW_SECONDS,
      beats.map((b) => b.workerKey ?? null),
    ],
  );
  const recorded = new Set(rows.map((r) => r.id));
  return new Set(beats.map((b) => b.workerId).filter((id) => !recorded.has(id)));
}

export interface WorkerIdentity {
  id: string;
  incarnation: string | null;
  public_key: string | null;
  /** the process on record is alive (not gone, heard within DUPLICATE_WINDOW_SECONDS of `now`) */
  live: boolean;
}

/** The incarnation and key each of these workers registered with, and whether that process is alive. */
export async function workerIdentities(db: Queryable, ids: string[], now: Date): Promise<Map<string, WorkerIdentity>> {
  const { rows } = await db.query<WorkerIdentity>(
    `SELECT id, incarnation, public_key,
            (status NOT IN ('DOWN', 'STOPPED') AND last_heartbeat_at >= $2::timestamptz - make_interval(secs => $3)) AS live
       FROM hg_workers WHERE id = ANY($1::text[])`,
    [ids, now.toISOString(), DUPLICATE_WINDOW_SECONDS],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Rows of workers gone (DOWN or STOPPED) since before `olderThan` are deleted: hg_workers does not grow for ever. */
export async function deleteGoneWorkers(db: Queryable, olderThan: Date): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM hg_workers WHERE status IN ('DOWN', 'STOPPED') AND last_heartbeat_at < $1`, [olderThan.toISOString()]);
  return rowCount;
}
