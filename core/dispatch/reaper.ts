import type { CoreContext } from './context.ts';
import { promoteDueRuns } from './enqueue.ts';
import { finishAttempts } from './outcomes.ts';
import { livenessNow, noteInterrupted, noteReceiving, receivingForMs } from './receiving.ts';
import { attemptsOfDeadWorkers, deleteGoneWorkers, type HeldAttempt, markSilentWorkersDown, pingDatabase, poolsWithRunsQueuedSince, pruneDeadLetters, statusProvenAt } from '../store/index.ts';

export interface ReaperOptions {
  workerTimeoutSeconds: number;
  /** a run queued this long, in a pool whose broker queue is empty, was lost by the broker */
  lostQueuedSeconds?: number;
  /** rows of workers gone (DOWN, STOPPED) this long are deleted. Default one day */
  workerRetentionSeconds?: number;
}

const DEFAULT_WORKER_RETENTION_SECONDS = 86_400;
const DEAD_LETTER_RETENTION_MS = 7 * 86_400_000;

/**
 * The leader's housekeeping: a worker silent for worker_timeout_seconds is declared DOWN and its running
 * attempts fail with the reason (and are retried where the task allows). Silence only counts while the core
 * could receive (receiving.ts): after an outage of the database or the broker, or a new leader, every worker
 * has a whole timeout to be heard again. Also hands stalled pending runs to the queue again, and ages out
 * the rows of gone workers and old dead letters.
 *
 * A live worker's attempts are never failed here because its heartbeat does not list them: that could race
 * with their outcomes (issue 12, defect 1). Claims a live worker gave up are failed on its word
 * (heartbeats.ts).
 */
export async function reap(ctx: CoreContext, options: ReaperOptions): Promise<{ workersDown: number; runsFailed: number }> {
  const timeout = options.workerTimeoutSeconds;
  try {
    await pingDatabase(ctx.db);
    await ctx.queue.ping();
  } catch (error) {
    noteInterrupted(ctx);
    throw error;
  }
  noteReceiving(ctx);
  const now = await livenessNow(ctx);
  // this pass's probe proves the path for a later pass; one that fails to go out proves nothing, harmlessly
  await ctx.queue.probeStatus(now.toISOString()).catch((error: Error) => ctx.logger.warn({ err: error.message }, 'status probe not sent'));
  const judgedAt = await silenceJudgedAt(ctx, now, timeout);
  let down: Array<{ id: string }> = [];
  let orphans: HeldAttempt[] = [];
  if (receivingForMs(ctx) >= timeout * 1000) {
    down = await markSilentWorkersDown(ctx.db, timeout, judgedAt);
    for (const worker of down) ctx.logger.warn({ workerId: worker.id, timeoutSeconds: timeout }, 'worker declared dead: no heartbeat');
    // A STOPPED worker said goodbye; anything still running on it has a whole timeout for its outcome to land.
    orphans = await attemptsOfDeadWorkers(ctx.db, timeout, judgedAt);
    await failAttempts(ctx, orphans, now, (run) => `worker ${run.worker_id ?? '(unknown)'} declared dead: no heartbeat for ${timeout}s`);
  }
  // pending runs older than a few seconds missed their hand-off (a broker was down): publish them again
  await promoteDueRuns(ctx);
  if (ctx.queue.kind !== 'postgres') await republishLost(ctx, options.lostQueuedSeconds ?? 60, now);
  await ageOut(ctx, now, options.workerRetentionSeconds ?? DEFAULT_WORKER_RETENTION_SECONDS);
  return { workersDown: down.length, runsFailed: orphans.length };
}

/** per database: since when (core time) the status path has lagged by more than the worker timeout, and whether that was said */
const lagging = new WeakMap<object, { since: number; said: boolean }>();

/**
 * The time up to which silence counts: now, or the newest status probe applied if that is earlier. Every
 * heartbeat sent before that probe has been applied, so a worker silent for a whole timeout before it was
 * really silent; one whose heartbeats wait in a stalled consumer's batch (deaf, not dead) is not judged
 * until the path delivers again. With competing consumers a stalled one holds only its own batch: later
 * heartbeats and probes go to the others (docs/reliability.md).
 */
async function silenceJudgedAt(ctx: CoreContext, now: Date, timeout: number): Promise<Date> {
  const proven = await statusProvenAt(ctx.db);
  const lagMs = now.getTime() - proven.getTime();
  if (lagMs <= timeout * 1000) {
    lagging.delete(ctx.db);
  } else {
    const state = lagging.get(ctx.db) ?? { since: now.getTime(), said: false };
    lagging.set(ctx.db, state);
    // said once per stall, after a whole timeout of it (a new leader's first probe is still on its way)
    if (!state.said && now.getTime() - state.since > timeout * 1000) {
      state.said = true;
      ctx.logger.warn({ provenSecondsAgo: proven.getTime() === 0 ? null : Math.round(lagMs / 1000) }, 'status path: no probe came back for longer than the worker timeout; no worker is declared dead until one does');
    }
  }
  return proven.getTime() < now.getTime() ? proven : now;
}

async function ageOut(ctx: CoreContext, now: Date, retentionSeconds: number): Promise<void> {
  const workers = await deleteGoneWorkers(ctx.db, new Date(now.getTime() - retentionSeconds * 1000));
  if (workers > 0) ctx.logger.info({ workers }, 'rows of gone workers deleted');
  await pruneDeadLetters(ctx.db, new Date(now.getTime() - DEAD_LETTER_RETENTION_MS));
}

/**
 * Fails attempts nobody will report on, with the reason; retries follow where the task allows. Each is marked
 * as failed by the core, so an outcome that still arrives is reconciled (late-outcomes.ts), and each is
 * settled only while the same worker holds it.
 */
function failAttempts(ctx: CoreContext, runs: HeldAttempt[], at: Date, reason: (run: HeldAttempt) => string): Promise<void> {
  return finishAttempts(
    ctx,
    runs.map((run) => ({ runId: run.id, attempt: run.attempt, status: 'failed' as const, at, error: reason(run), byCore: true, expectWorkerId: run.worker_id })),
  );
}

/**
 * A broker without persistence (Redis with no AOF, a purged queue) can lose queued runs while the leader
 * stays up. A pool whose broker queue is empty while Postgres still holds runs queued for a long time has
 * lost them: they are published again (claims make a duplicate harmless). A busy pool is left alone, so a
 * long backlog is never published twice.
 */
async function republishLost(ctx: CoreContext, lostQueuedSeconds: number, now: Date): Promise<void> {
  const rows = await poolsWithRunsQueuedSince(ctx.db, lostQueuedSeconds, now);
  for (const { pool } of rows) {
    if ((await ctx.queue.backlog(pool)) > 0) continue;
    const count = await promoteDueRuns(ctx, { includeQueued: true, queuedOlderThanMs: lostQueuedSeconds * 1000, pool });
    if (count > 0) ctx.logger.warn({ pool, runs: count }, 'runs queued in Postgres were missing from the broker; published again');
  }
}
