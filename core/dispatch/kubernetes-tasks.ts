import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { RunStatus, RunTrigger, Task, TaskSpec } from '../model/index.ts';
import type { Db, Queryable } from '../store/db.ts';
import { ConflictError, NotFoundError } from '../store/errors.ts';
import { TASK_COLUMNS, ms, toTask, type TaskRow } from '../store/rows.ts';
import { TASK_CHANGED_CHANNEL, createTask, deleteTask, findTask, updateTask } from '../store/tasks.ts';
import { compileSchedule } from '../schedule/index.ts';
import type { CoreContext } from './context.ts';
import { createRuns } from './enqueue.ts';
import { checkNoCycle, checkSchedule } from './tasks.ts';

/**
 * What the Kubernetes operator needs from the core: ScheduledTasks kept in hg_tasks by (namespace, name)
 * with source 'kubernetes', and the cheap reads that let it write a status that follows the runs.
 */

export interface KubernetesTaskWrite {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: TaskSpec;
}

export interface UpsertResult {
  task: Task;
  /** false when the stored task already had this spec and labels (a resync): nothing was written */
  changed: boolean;
}

/**
 * Creates or updates the task of a ScheduledTask. Idempotent: the same spec twice writes nothing, so a
 * level-triggered reconciler may call it on every pass. A schedule or time zone that does not compile
 * throws ScheduleError (reason InvalidSchedule / UnknownTimeZone), and a dependsOn that closes a cycle
 * a ValidationError on dependsOn, before anything is written.
 */
export async function upsertKubernetesTask(ctx: CoreContext, write: KubernetesTaskWrite): Promise<UpsertResult> {
  checkSchedule(write.spec.schedule, write.spec.timeZone);
  // a cycle of on-demand tasks would trigger itself forever once one of them ran
  await checkNoCycle(ctx.db, write.namespace, write.name, write.spec.dependsOn);
  for (let attempt = 0; ; attempt++) {
    const current = await findTask(ctx.db, write.name, write.namespace);
    if (current && current.namespace !== write.namespace) throw new Error(`task lookup for ${write.namespace}/${write.name} returned another task`);
    if (current?.source === 'api') {
      throw new ConflictError(`task ${write.namespace}/${write.name} exists and is managed through the REST API`, 'HG_ERR_TASK_EXISTS');
    }
    if (current) {
      if (isDeepStrictEqual(current.spec, write.spec) && isDeepStrictEqual(current.labels, write.labels)) return { task: current, changed: false };
      return { task: await updateTask(ctx.db, current.id, { labels: write.labels, spec: write.spec }), changed: true };
    }
    try {
      return { task: await createTask(ctx.db, { ...write, source: 'kubernetes' }), changed: true };
    } catch (error) {
      // another operator replica created it between our read and our insert: read it again
      if (!(error instanceof ConflictError) || attempt > 0) throw error;
    }
  }
}

/** Rows per statement of the bulk reads and writes below (parameters are arrays, so this only bounds statement size). */
const BULK_CHUNK = 2000;

const taskKey = (namespace: string, name: string) => `${namespace}/${name}`;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BULK_CHUNK) out.push(items.slice(i, i + BULK_CHUNK));
  return out;
}

/** The live tasks (any source) of many "namespace/name" keys, one round trip per chunk: an initial sync reads them all at once. */
export async function findTasksByKey(db: Queryable, keys: Array<{ namespace: string; name: string }>): Promise<Map<string, Task>> {
  const found = new Map<string, Task>();
  for (const chunk of chunks(keys)) {
    const { rows } = await db.query<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM hg_tasks
        WHERE deleted_at IS NULL AND (namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [chunk.map((k) => k.namespace), chunk.map((k) => k.name)],
    );
    for (const row of rows) found.set(taskKey(row.namespace, row.name), toTask(row));
  }
  return found;
}

/**
 * Creates the tasks of many new ScheduledTasks (an operator's initial sync) in one transaction with one
 * INSERT per chunk, and tells dispatchers about them in one statement. The caller has checked schedules
 * and that none has dependsOn (cycle checks stay with upsertKubernetesTask); a name taken meanwhile is
 * skipped, not an error, and is absent from the result, so the caller falls back to the one-by-one path.
 */
export async function createKubernetesTasks(db: Db, writes: KubernetesTaskWrite[]): Promise<Map<string, Task>> {
  const created = new Map<string, Task>();
  if (writes.length === 0) return created;
  await db.transaction(async (tx) => {
    for (const chunk of chunks(writes)) {
      const { rows } = await tx.query<TaskRow>(
        `INSERT INTO hg_tasks (id, namespace, name, source, labels, spec)
         SELECT id, namespace, name, 'kubernetes', labels, spec FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[]) AS w(id, namespace, name, labels, spec)
         ON CONFLICT DO NOTHING RETURNING ${TASK_COLUMNS}`,
        [chunk.map(() => randomUUID()), chunk.map((w) => w.namespace), chunk.map((w) => w.name), chunk.map((w) => JSON.stringify(w.labels)), chunk.map((w) => JSON.stringify(w.spec))],
      );
      for (const row of rows) created.set(taskKey(row.namespace, row.name), toTask(row));
      await tx.query('SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id', [TASK_CHANGED_CHANNEL, rows.map((r) => r.id)]);
    }
  });
  return created;
}

/** Deletes the task of a ScheduledTask (history stays readable) and cancels its active runs. Returns how many. */
export async function deleteKubernetesTask(ctx: CoreContext, namespace: string, name: string): Promise<number> {
  const current = await findTask(ctx.db, name, namespace);
  if (!current || current.source !== 'kubernetes' || current.namespace !== namespace) return 0;
  let cancelled;
  try {
    cancelled = await deleteTask(ctx.db, current.id);
  } catch (error) {
    // deleted meanwhile by another path (the watch's DELETED and the orphan sweep after a list may meet)
    if (error instanceof NotFoundError) return 0;
    throw error;
  }
  if (cancelled.length > 0) await ctx.queue.publishCancel(cancelled);
  return cancelled.length;
}

/**
 * The time a manual run of the task gets as its slot key: now, moved past a scheduled slot of the task
 * landing on the same millisecond (that key belongs to the schedule).
 */
export function manualRunTime(task: Task, nowMs: number): Date {
  let at = nowMs;
  try {
    const schedule = task.spec.schedule ? compileSchedule(task.spec.schedule, task.spec.timeZone) : undefined;
    while (schedule?.next(at - 1) === at) at += 1;
  } catch {
    // an uncompilable schedule fires nothing: no slot to avoid
  }
  return new Date(at);
}

/**
 * A manual run (all shards) at a time chosen beforehand and remembered by the caller: calling it again
 * with the same time is a no-op (the run key is task, time, shard), so an operator that crashed between
 * creating the run and recording it cannot trigger twice. Returns how many runs were created now.
 */
export async function triggerKubernetesTask(ctx: CoreContext, task: Task, at: Date): Promise<number> {
  const created = await createRuns(ctx, [{ task, scheduledTime: at, trigger: 'manual' }]);
  return created.length;
}

export interface KubernetesTaskRef {
  id: string;
  namespace: string;
  name: string;
}

/** Live kubernetes tasks, optionally of some namespaces only: the operator deletes those whose resource is gone. */
export async function listKubernetesTasks(db: Queryable, namespaces?: string[]): Promise<KubernetesTaskRef[]> {
  const { rows } = await db.query<KubernetesTaskRef>(
    `SELECT id::text AS id, namespace, name FROM hg_tasks
      WHERE source = 'kubernetes' AND deleted_at IS NULL AND ($1::text[] IS NULL OR namespace = ANY($1::text[]))`,
    [namespaces && namespaces.length > 0 ? namespaces : null],
  );
  return rows;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  trigger: RunTrigger;
  scheduledTime: Date;
  finishedAt: Date | null;
}

export interface TaskRunState {
  /** the latest schedule slot turned into runs (missed and skipped slots included) */
  lastScheduledTime: Date | null;
  lastSuccessfulTime: Date | null;
  /** unfinished runs, oldest first, at most `activeLimit` */
  active: RunSummary[];
  lastFinished: RunSummary | null;
}

const RUN_STATE_COLUMNS = `t.last_scheduled_time AS last_scheduled,
            (SELECT max(r.finished_at) FROM hg_runs r WHERE r.task_id = t.id AND r.status = 'succeeded') AS last_success,
            (SELECT coalesce(json_agg(a ORDER BY a.id), '[]') FROM (
               SELECT r.id::text AS id, r.status, r.trigger, r.scheduled_time, r.finished_at FROM hg_runs r
                WHERE r.task_id = t.id AND r.status IN ('pending', 'queued', 'running') ORDER BY r.id LIMIT $2) a) AS active,
            (SELECT row_to_json(f) FROM (
               SELECT r.id::text AS id, r.status, r.trigger, r.scheduled_time, r.finished_at FROM hg_runs r
                WHERE r.task_id = t.id AND r.finished_at IS NOT NULL ORDER BY r.finished_at DESC, r.id DESC LIMIT 1) f) AS last_finished`;

interface RunStateRow {
  id: string;
  last_scheduled: unknown;
  last_success: unknown;
  active: unknown;
  last_finished: unknown;
}

const NO_RUNS: TaskRunState = { lastScheduledTime: null, lastSuccessfulTime: null, active: [], lastFinished: null };

/** The few facts a ScheduledTask's status shows, in one round trip (each part uses an index). */
export async function taskRunState(db: Queryable, taskId: string, activeLimit = 20): Promise<TaskRunState> {
  const { rows } = await db.query<RunStateRow>(`SELECT t.id::text AS id, ${RUN_STATE_COLUMNS} FROM hg_tasks t WHERE t.id = $1`, [taskId, activeLimit]);
  const row = rows[0];
  return row ? toRunState(row) : { ...NO_RUNS, active: [] };
}

/** taskRunState of many tasks, one round trip per chunk (an initial sync). Unknown ids are absent. */
export async function taskRunStates(db: Queryable, taskIds: string[], activeLimit = 20): Promise<Map<string, TaskRunState>> {
  const states = new Map<string, TaskRunState>();
  for (const chunk of chunks(taskIds)) {
    const { rows } = await db.query<RunStateRow>(`SELECT t.id::text AS id, ${RUN_STATE_COLUMNS} FROM hg_tasks t WHERE t.id = ANY($1::uuid[])`, [chunk, activeLimit]);
    for (const row of rows) states.set(row.id, toRunState(row));
  }
  return states;
}

function toRunState(row: RunStateRow): TaskRunState {
  const parse = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value) as RawRun;
  const active = parse(row.active) as unknown as RawRun[];
  return {
    lastScheduledTime: toDate(row.last_scheduled),
    lastSuccessfulTime: toDate(row.last_success),
    active: active.map(toSummary),
    lastFinished: row.last_finished ? toSummary(parse(row.last_finished)) : null,
  };
}

interface RawRun {
  id: string;
  status: RunStatus;
  trigger: RunTrigger;
  scheduled_time: string;
  finished_at: string | null;
}

function toSummary(raw: RawRun): RunSummary {
  return { id: raw.id, status: raw.status, trigger: raw.trigger, scheduledTime: new Date(raw.scheduled_time), finishedAt: toDate(raw.finished_at) };
}

function toDate(value: unknown): Date | null {
  const at = ms(value);
  return at === null ? null : new Date(at);
}

export interface RunChange extends RunSummary {
  namespace: string;
  name: string;
  /** created within the window (neither created nor finished: it started running) */
  created: boolean;
  /** finished within the window (a run may be both created and finished in one) */
  finished: boolean;
  error: string | null;
  /** why a skipped or missed run did not run, as a code, when the database records one (hg_runs.reason) */
  reason: string | null;
}

export interface RunChangeCursor {
  afterId: string;
  upTo: Date;
}

/**
 * Runs of kubernetes tasks created, started or finished since the cursor, so the operator can refresh
 * statuses and emit events as runs happen, without scanning: new runs by primary key, finished ones by
 * hg_runs_finished, started ones among the few running (hg_runs_active).
 * The window ends `lagMs` before the database's now, so a transaction committing a little late is still
 * seen by the next poll. The first call (no cursor) only returns the cursor: history is not replayed.
 */
export async function kubernetesRunChanges(db: Queryable, cursor: RunChangeCursor | undefined, lagMs = 1000, limit = 2000): Promise<{ changes: RunChange[]; cursor: RunChangeCursor }> {
  const { rows: clock } = await db.query<{ up_to: unknown; max_id: string | null }>(
    `SELECT now() - make_interval(secs => $1::double precision / 1000) AS up_to, (SELECT max(id)::text FROM hg_runs) AS max_id`,
    [lagMs],
  );
  const upTo = toDate(clock[0]?.up_to) as Date;
  if (!cursor) return { changes: [], cursor: { afterId: clock[0]?.max_id ?? '0', upTo } };
  // the reason code column arrives with its own migration: read through to_jsonb so this query works either way
  const { rows } = await db.query<RawRun & { namespace: string; name: string; created: boolean; finished: boolean; error: string | null; reason: string | null }>(
    `SELECT r.id::text AS id, r.status, r.trigger, r.scheduled_time, r.finished_at, r.error, to_jsonb(r) ->> 'reason' AS reason, t.namespace, t.name,
            (r.id > $1::bigint AND r.created_at < $3) AS created,
            coalesce(r.finished_at >= $2 AND r.finished_at < $3, false) AS finished
       FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE t.source = 'kubernetes'
        AND ((r.id > $1::bigint AND r.created_at < $3) OR (r.finished_at >= $2 AND r.finished_at < $3)
             OR (r.status = 'running' AND r.started_at >= $2 AND r.started_at < $3))
      ORDER BY r.id LIMIT $4`,
    [cursor.afterId, cursor.upTo.toISOString(), upTo.toISOString(), limit],
  );
  let afterId = BigInt(cursor.afterId);
  for (const row of rows) if (row.created && BigInt(row.id) > afterId) afterId = BigInt(row.id);
  const changes = rows.map((row) => ({ ...toSummary(row), namespace: row.namespace, name: row.name, created: row.created, finished: row.finished, error: row.error, reason: row.reason }));
  // a full page means more may be waiting: keep the time window where it was and continue by id
  return { changes, cursor: { afterId: afterId.toString(), upTo: rows.length >= limit ? cursor.upTo : upTo } };
}

/** The namespaces whose WorkerPool of this name the operator mirrored (a pool name belongs to one namespace). */
export async function kubernetesPoolNamespaces(db: Queryable, name: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(`SELECT namespace FROM hg_pools WHERE name = $1 AND source = 'kubernetes' ORDER BY namespace`, [name]);
  return rows.map((row) => row.namespace);
}

/** Namespaces other than `namespace` whose ScheduledTasks use the pool `name` (they would reach its workers). */
export async function otherNamespacesUsingPool(db: Queryable, name: string, namespace: string): Promise<string[]> {
  const { rows } = await db.query<{ namespace: string }>(
    `SELECT DISTINCT namespace FROM hg_tasks WHERE source = 'kubernetes' AND deleted_at IS NULL AND spec ->> 'pool' = $1 AND namespace <> $2 ORDER BY namespace`,
    [name, namespace],
  );
  return rows.map((row) => row.namespace);
}

/** Every mirrored WorkerPool name -> the namespaces holding one (an initial sync checks its tasks at once). */
export async function kubernetesPoolOwners(db: Queryable): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ name: string; namespace: string }>(`SELECT name, namespace FROM hg_pools WHERE source = 'kubernetes'`);
  const owners = new Map<string, string[]>();
  for (const row of rows) owners.set(row.name, [...(owners.get(row.name) ?? []), row.namespace]);
  return owners;
}

export interface PoolLoad {
  /** runs waiting for a worker of the pool (retries still backing off are not counted) */
  backlog: number;
  activeRuns: number;
  /** live workers of the pool by hostname (the pod name in Kubernetes) with the runs each holds */
  workers: Array<{ id: string; hostname: string; activeRuns: number; draining: boolean }>;
}

export async function poolLoad(db: Queryable, pool: string): Promise<PoolLoad> {
  const { rows } = await db.query<{ backlog: string; active: string; workers: unknown }>(
    `SELECT count(*) FILTER (WHERE r.status = 'queued' OR (r.status = 'pending' AND (r.not_before IS NULL OR r.not_before <= now())))::text AS backlog,
            count(*) FILTER (WHERE r.status = 'running')::text AS active,
            (SELECT coalesce(json_agg(json_build_object('id', w.id, 'hostname', w.hostname, 'activeRuns', w.active_runs, 'draining', w.status = 'DRAINING')), '[]')
               FROM hg_workers w WHERE w.pool = $1 AND w.status NOT IN ('DOWN', 'STOPPED')) AS workers
       FROM hg_runs r WHERE r.pool = $1 AND r.status IN ('pending', 'queued', 'running')`,
    [pool],
  );
  const row = rows[0];
  const workers = typeof row?.workers === 'string' ? JSON.parse(row.workers) : (row?.workers ?? []);
  return { backlog: Number(row?.backlog ?? 0), activeRuns: Number(row?.active ?? 0), workers: workers as PoolLoad['workers'] };
}
