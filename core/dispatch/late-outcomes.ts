/**
 * An outcome that reaches the core after the core failed its attempt on the worker's behalf (the worker was
 * declared dead during a partition, a claim was reported abandoned) is the truth about what ran, so it is
 * reconciled rather than dropped (issue 12, defect 1):
 * - the attempt is recorded as it really ended;
 * - if it succeeded and the retry the core made for it has not started yet, that retry is withdrawn (deleted:
 *   it never ran, and the history then reads as what happened), so the task does not run a second time;
 *   dependants of a success follow as usual;
 * - any other late outcome changes nothing: the core's failure and its retry stand. A worker that comes back
 *   after being declared dead is told to cancel what the core settled without it, so its late `cancelled`
 *   says only that; taking it for the truth withdrew the retry and lost the run (the chaos suite's
 *   vanished worker host);
 * - if the retry already started, nothing can be undone: the attempt is still recorded truthfully, and the
 *   retry's own outcome decides what follows. A retry whose row still says queued has started too if a
 *   worker already claimed it where the broker decides claims (redis_stream): the queue's `withdraw` tells.
 */
import type { CancelTarget } from '../queue/port.ts';
import { deleteWaitingRuns, lockNextAttempts, lockRunsInIdOrder, type Queryable, recordLateSuccesses } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { handOffCreated } from './enqueue.ts';
import { followUps, outcomeColumns, type AttemptOutcome, type FinishedRow } from './outcomes.ts';

const SUPERSEDED = 'superseded: the attempt before it reported its outcome after the core had failed it';

export async function reconcileLateOutcomes(ctx: CoreContext, late: AttemptOutcome[]): Promise<number> {
  const outcomes = late.filter((o) => o.status === 'succeeded');
  if (outcomes.length === 0) return 0;
  const result = await ctx.db.transaction(async (tx) => {
    await lockRunsInIdOrder(tx, outcomes.map((o) => o.runId));
    const rows = await recordLateSuccesses(tx, outcomeColumns(outcomes));
    // only successes reach here: each one withdraws the retry the core made for it, if that has not started
    const { cancelled, stillRunning } = await cancelSuccessors(ctx, tx, rows);
    // Dependants are judged by each shard's latest attempt (dependants.ts): a retry still going on makes the fire
    // not succeeded yet, and its own success brings them. Leaving out the slots whose retry had started lost the
    // dependant when that retry was itself reconciled in this same batch (simulator seeds 535, 1217 and others
    // of the short world: a frozen status consumer, both attempts of both shards failed by the core, all four
    // successes landing at once). A dependant made twice is not possible: its slot is the upstream's fire.
    const next = await followUps(ctx, tx, rows, { retry: false });
    return { reconciled: rows, cancelled: [...cancelled, ...next.cancelled], created: next.created, stillRunning };
  });
  if (result.reconciled.length > 0) ctx.logger.warn({ runs: result.reconciled.map((r) => `${r.id}/${r.attempt}:${r.status}`), retriesCancelled: result.cancelled.length }, 'late outcomes reconciled for attempts the core had failed');
  if (result.stillRunning.size > 0) ctx.logger.error({ slots: [...result.stillRunning] }, 'an attempt the core had failed did run; its retry had already started');
  if (result.cancelled.length > 0) await ctx.queue.publishCancel(result.cancelled);
  await handOffCreated(ctx, result.created);
  return result.reconciled.length;
}

/** Withdraws the retries (attempt + 1) of these attempts that have not started; reports those that have. */
async function cancelSuccessors(ctx: CoreContext, tx: Queryable, rows: FinishedRow[]): Promise<{ cancelled: CancelTarget[]; stillRunning: Set<string> }> {
  if (rows.length === 0) return { cancelled: [], stillRunning: new Set() };
  const next = await lockNextAttempts(tx, rows);
  const waiting = next.filter((n) => n.status === 'pending' || n.status === 'queued');
  const stillRunning = new Set(next.filter((n) => !waiting.includes(n) && n.status !== 'cancelled').map(slotOf));
  if (waiting.length === 0) return { cancelled: [], stillRunning };
  // The row says waiting, but where the broker decides claims (redis_stream) a worker may hold the retry already,
  // its start still on the way: deleting that row lost the record of a retry that then ran (chaos, seed
  // 124485720). Only what the broker put out of reach goes; the rest counts as started.
  const withdrawn = new Set((await ctx.queue.withdraw(waiting.map((n) => ({ runId: n.id, taskId: n.task_id, attempt: n.attempt })))).map((t) => t.runId));
  for (const n of waiting) if (!withdrawn.has(n.id)) stillRunning.add(slotOf(n));
  if (withdrawn.size === 0) return { cancelled: [], stillRunning };
  const cancelled = await deleteWaitingRuns(tx, [...withdrawn]);
  ctx.logger.info({ runs: cancelled.map((r) => r.id), reason: SUPERSEDED }, 'retries withdrawn');
  return { cancelled: cancelled.map((r) => ({ runId: r.id, taskId: r.task_id, attempt: r.attempt })), stillRunning };
}

/** a fire's shard, as the log names it */
function slotOf(n: { task_id: string; scheduled_time: Date | string; shard: number }): string {
  return `${n.task_id}/${new Date(n.scheduled_time).getTime()}/${n.shard}`;
}
