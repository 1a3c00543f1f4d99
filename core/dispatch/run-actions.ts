import { ACTIVE_STATUSES, type Run } from '../model/index.ts';
import { cancelRuns, ConflictError, findTask, fireAttempts, getRun } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { createRuns } from './enqueue.ts';

/** Outcomes a user may retry by hand: the attempt ran (or was stopped) and did not succeed. */
const RETRYABLE_BY_HAND = new Set(['failed', 'timed_out', 'cancelled']);

/**
 * Cancels an active run: durable in Postgres first (a waiting run can then never be handed out), then the
 * worker running it is told through the queue. Cancelling a finished run is a conflict, not a no-op, so a
 * client learns that the run ended on its own.
 */
export async function cancelRun(ctx: CoreContext, runId: string, reason = 'cancelled through the API'): Promise<Run> {
  const run = await getRun(ctx.db, runId);
  if (!ACTIVE_STATUSES.has(run.status)) {
    throw new ConflictError(`run ${runId} is already ${run.status}; only pending, queued or running runs can be cancelled`, 'HG_ERR_RUN_NOT_ACTIVE');
  }
  const targets = await cancelRuns(ctx.db, [runId], reason, { reason: 'Cancelled', at: new Date(ctx.now()) });
  if (targets.length > 0) await ctx.queue.publishCancel(targets);
  return getRun(ctx.db, runId);
}

/**
 * A new attempt of a failed, timed-out or cancelled run: same task, scheduled time and shard, the next
 * attempt number, trigger `retry`, durable (and handed to the queue) before this resolves. Refused while
 * another attempt of the same fire is active (an automatic retry waiting for its backoff, say), so a
 * retry never runs a fire twice at once.
 */
export async function retryRun(ctx: CoreContext, runId: string): Promise<Run> {
  const run = await getRun(ctx.db, runId);
  if (!RETRYABLE_BY_HAND.has(run.status)) {
    throw new ConflictError(`run ${runId} is ${run.status}; only failed, timed_out or cancelled runs can be retried`, 'HG_ERR_RUN_NOT_RETRYABLE');
  }
  const task = await findTask(ctx.db, run.taskId);
  if (!task) throw new ConflictError(`the task of run ${runId} ("${run.taskName}") was deleted; its runs cannot be retried`, 'HG_ERR_RUN_NOT_RETRYABLE');
  const slot = (await fireAttempts(ctx.db, run.taskId, run.scheduledTime, run.shard)) ?? { attempt: run.attempt, active: false };
  if (slot.active) {
    throw new ConflictError(`another attempt of this fire of "${run.taskName}" is still active; cancel it first or wait for it`, 'HG_ERR_RUN_NOT_RETRYABLE');
  }
  const created = await createRuns(ctx, [{ task, scheduledTime: new Date(run.scheduledTime), trigger: 'retry', attempt: slot.attempt + 1, shard: run.shard }]);
  const fresh = created[0];
  // a concurrent retry of the same run took this attempt number first
  if (!fresh) throw new ConflictError(`run ${runId} is being retried already`, 'HG_ERR_RUN_NOT_RETRYABLE');
  return getRun(ctx.db, fresh.id);
}
