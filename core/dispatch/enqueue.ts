import type { RunReason, RunTrigger, Task } from '../model/index.ts';
import type { RunMessage } from '../queue/port.ts';
import { buildRunMessage } from '../queue/run-message.ts';
import { advanceLastScheduledTimes, dueRunsToHandOff, type InsertedRun, insertRuns, markQueued, type NewRun, notifyPools, type Queryable, toTask } from '../store/index.ts';
import type { CoreContext } from './context.ts';

/** how long a run may stay pending, without a backoff, before its hand-off to the queue counts as stalled */
const HAND_OFF_GRACE_MS = 5000;

/** Workers of the postgres queue LISTEN here; the payload is the pool. */
export const RUNS_QUEUED_CHANNEL = 'hg_runs_queued';

export interface RunRequest {
  task: Task;
  scheduledTime: Date;
  trigger: RunTrigger;
  attempt?: number;
  /** one shard only (a retry); absent = every shard of the task */
  shard?: number;
  /** recorded as finished at once instead of queued (missed or skipped fires, with the reason) */
  terminal?: { status: 'missed' | 'skipped' | 'cancelled'; error: string; reason: RunReason };
  notBefore?: Date;
}

export interface CreatedRun extends InsertedRun {
  task: Task;
}

/**
 * Makes runs durable, then hands the runnable ones to the queue. With the postgres queue the insert is the
 * enqueue. With a broker the run is inserted `pending`, published, then marked `queued`: if the publish
 * fails the run stays pending in Postgres and the leader publishes it again, so nothing accepted is lost.
 */
export async function createRuns(ctx: CoreContext, requests: RunRequest[], advance?: Map<string, Date>, fence?: (tx: Queryable) => Promise<void>): Promise<CreatedRun[]> {
  // With nothing to advance, the insert is the only statement (with the postgres queue's NOTIFY in it):
  // atomic on its own, so the BEGIN and COMMIT round trips (a trigger's latency, a burst's throughput) are
  // left out. A leader's fence (leadership.ts) needs the transaction: a woken old leader must not commit its fires.
  const single = !fence && (!advance || advance.size === 0);
  const created = single
    ? await insertRequestedRuns(ctx, ctx.db, requests)
    : await ctx.db.transaction(async (tx) => {
        await fence?.(tx);
        return insertRequestedRuns(ctx, tx, requests, advance);
      });
  await handOffCreated(ctx, created);
  return created;
}

/**
 * The durable half of createRuns, inside the caller's transaction, so that a run can be created
 * atomically with another write (an attempt's outcome and its retry). Call handOffCreated after commit.
 */
export async function insertRequestedRuns(ctx: CoreContext, tx: Queryable, requests: RunRequest[], advance?: Map<string, Date>, madeAt?: number): Promise<CreatedRun[]> {
  const direct = ctx.queue.kind === 'postgres';
  const tasks = new Map<string, Task>();
  const rows: NewRun[] = [];
  for (const request of requests) {
    tasks.set(request.task.id, request.task);
    const total = request.task.spec.shards;
    const shards = request.shard !== undefined ? [request.shard] : Array.from({ length: total }, (_, i) => i);
    const status = request.terminal?.status ?? (request.notBefore ? 'pending' : direct ? 'queued' : 'pending');
    for (const shard of shards) {
      rows.push({
        taskId: request.task.id,
        scheduledTime: request.scheduledTime,
        shard,
        shardTotal: total,
        attempt: request.attempt ?? 1,
        trigger: request.trigger,
        status,
        pool: request.task.spec.pool,
        priority: request.task.spec.priority,
        notBefore: request.notBefore ?? null,
        error: request.terminal?.error ?? null,
        reason: request.terminal?.reason ?? null,
      });
    }
  }
  // madeAt: a fire written ahead of its time is made at that time, when it commits (dispatcher.ts)
  const inserted = await insertRuns(tx, rows, new Date(madeAt ?? ctx.now()), direct ? { notifyQueuedOn: RUNS_QUEUED_CHANNEL } : {});
  if (advance && advance.size > 0) await advanceLastScheduledTimes(tx, advance);
  return inserted.map((run) => ({ ...run, task: tasks.get(run.taskId) as Task }));
}

/** The queue half: publishes what was inserted pending. A failed publish leaves the runs pending for the leader. */
export async function handOffCreated(ctx: CoreContext, created: CreatedRun[]): Promise<void> {
  if (ctx.queue.kind === 'postgres') return;
  const toPublish = created.filter((run) => run.status === 'pending' && run.notBefore === null);
  if (toPublish.length === 0) return;
  try {
    await handOff(ctx, toPublish);
  } catch (error) {
    ctx.logger.warn({ err: (error as Error).message, runs: toPublish.length }, 'publish failed; runs stay pending and will be published again');
  }
}

/** The run message of a run made from `task` (the one builder every backend uses: core/queue/run-message.ts). */
export function toRunMessage(run: InsertedRun, task: Task): RunMessage {
  return buildRunMessage(
    { runId: run.id, attempt: run.attempt, taskId: task.id, taskName: task.name, pool: task.spec.pool, priority: task.spec.priority, shard: run.shard, shardTotal: run.shardTotal, scheduledTime: run.scheduledTime },
    task.spec,
  );
}

async function handOff(ctx: CoreContext, runs: CreatedRun[]): Promise<void> {
  await ctx.queue.publish(runs.map((run) => toRunMessage(run, run.task)));
  await markQueued(ctx.db, runs.map((run) => run.id), new Date(ctx.now()));
}

/**
 * Hands runs that are pending and due to the queue: retries whose backoff has passed, and runs whose first
 * publish failed. With `includeQueued` it also republishes queued runs (the reaper does this for a pool whose
 * broker queue is empty while Postgres holds old queued runs: the broker lost them; claims make a duplicate harmless).
 */
export interface PromoteOptions {
  /** also republish queued runs (brokers only) */
  includeQueued?: boolean;
  /** with includeQueued: only runs queued longer than this */
  queuedOlderThanMs?: number;
  pool?: string;
  limit?: number;
  handOffGraceMs?: number;
}

export async function promoteDueRuns(ctx: CoreContext, options: PromoteOptions = {}): Promise<number> {
  const direct = ctx.queue.kind === 'postgres';
  const statuses = options.includeQueued && !direct ? ['pending', 'queued'] : ['pending'];
  const queuedBefore = new Date(ctx.now() - (options.queuedOlderThanMs ?? 0)).toISOString();
  // a pending run without a backoff is normally being published right now; only a stalled one is taken over
  const stalledBefore = new Date(ctx.now() - (options.handOffGraceMs ?? HAND_OFF_GRACE_MS)).toISOString();
  const rows = await dueRunsToHandOff(ctx.db, { statuses, now: new Date(ctx.now()), limit: options.limit ?? 5000, stalledBefore, queuedBefore, pool: options.pool ?? null });
  if (rows.length === 0) return 0;
  if (direct) {
    await ctx.db.transaction(async (tx) => {
      await markQueued(tx, rows.map((r) => r.run_id), new Date(ctx.now()));
      await notifyPools(tx, RUNS_QUEUED_CHANNEL, rows.map((r) => toTask(r).spec.pool));
    });
    return rows.length;
  }
  const runs: CreatedRun[] = rows.map((row) => ({
    id: row.run_id,
    taskId: row.id,
    scheduledTime: new Date(row.r_scheduled_time),
    shard: row.shard,
    shardTotal: row.shard_total,
    attempt: row.attempt,
    status: row.r_status as CreatedRun['status'],
    notBefore: null,
    // published with the spec captured when the run was made (hg_run_specs, or hg_runs.spec before migration 0010), not the task's current one
    task: toTask(row.run_spec ? { ...row, spec: row.run_spec } : row),
  }));
  await handOff(ctx, runs);
  return runs.length;
}
