import { deleteRunsBeyondHistoryLimits, deleteWorkersDownSince } from '../store/index.ts';
import type { CoreContext } from './context.ts';

/** a worker DOWN this long is forgotten (its row in hg_workers is deleted) */
const FORGET_WORKERS_AFTER_MS = 24 * 3_600_000;

/**
 * Keeps each task's history within spec.history: the newest `successfulRunsLimit` succeeded runs and the
 * newest `failedRunsLimit` of every other finished status (failed, timed out, cancelled, missed, skipped).
 * Only tasks with runs finished since `since` are looked at, and for each only the boundary is found: the
 * limit-th newest run of its class, walked on hg_runs_task (task_id, id DESC), so a pass costs what the
 * limits and the deletions cost, not the task's whole history. Active runs are never touched; their logs go
 * with them (ON DELETE CASCADE). Workers DOWN for a day are forgotten too (hg_workers would grow for ever).
 */
export async function pruneHistory(ctx: CoreContext, since: Date): Promise<number> {
  const { fence } = ctx;
  // the leader's pass is fenced (leader-work.ts): a woken old leader deletes nothing
  const deleted = fence
    ? await ctx.db.transaction(async (tx) => {
        await fence(tx);
        return deleteRunsBeyondHistoryLimits(tx, since);
      })
    : await deleteRunsBeyondHistoryLimits(ctx.db, since);
  await deleteWorkersDownSince(ctx.db, new Date(ctx.now() - FORGET_WORKERS_AFTER_MS));
  return deleted;
}
