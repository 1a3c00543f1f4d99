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
 *   retry's own outcome decides what follows.
 */
import type { CancelTarget } from '../queue/port.ts';
import type { Queryable } from '../store/db.ts';
import { statusAmong } from '../store/status-test.ts';
import type { CoreContext } from './context.ts';
import { handOffCreated } from './enqueue.ts';
import { followUps, lockRuns, outcomeColumns, type AttemptOutcome, type FinishedRow } from './outcomes.ts';

const SUPERSEDED = 'superseded: the attempt before it reported its outcome after the core had failed it';

export async function reconcileLateOutcomes(ctx: CoreContext, late: AttemptOutcome[]): Promise<number> {
  const outcomes = late.filter((o) => o.status === 'succeeded');
  if (outcomes.length === 0) return 0;
  const result = await ctx.db.transaction(async (tx) => {
    await lockRuns(tx, outcomes.map((o) => o.runId));
    const { rows } = await tx.query<FinishedRow>(
      `UPDATE hg_runs r SET status = u.status, finished_at = GREATEST(u.at, r.started_at), exit_code = u.exit_code, http_status = u.http_status,
              error = u.error, output = u.output, failed_by_core = false
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::int[], $7::int[], $8::text[], $9::text[])
              AS u(id, attempt, status, at, worker_id, exit_code, http_status, error, output)
        WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND r.failed_by_core AND ${statusAmong('r', ['failed'])}
          AND (r.worker_id IS NULL OR r.worker_id = u.worker_id)
        RETURNING r.id::text AS id, r.task_id::text AS task_id, r.scheduled_time, r.shard, r.attempt, r.status`,
      outcomeColumns(outcomes),
    );
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
  const { rows: next } = await tx.query<{ id: string; task_id: string; attempt: number; status: string; scheduled_time: Date | string; shard: number }>(
    `SELECT n.id::text AS id, n.task_id::text AS task_id, n.attempt, n.status, n.scheduled_time, n.shard FROM hg_runs n
       JOIN unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[]) AS u(task_id, scheduled_time, shard, attempt)
         ON n.task_id = u.task_id AND n.scheduled_time = u.scheduled_time AND n.shard = u.shard AND n.attempt = u.attempt + 1
      ORDER BY n.id FOR UPDATE OF n`,
    [rows.map((r) => r.task_id), rows.map((r) => new Date(r.scheduled_time).toISOString()), rows.map((r) => r.shard), rows.map((r) => r.attempt)],
  );
  const waiting = next.filter((n) => n.status === 'pending' || n.status === 'queued');
  const stillRunning = new Set(next.filter((n) => !waiting.includes(n) && n.status !== 'cancelled').map((n) => `${n.task_id}/${new Date(n.scheduled_time).getTime()}/${n.shard}`));
  if (waiting.length === 0) return { cancelled: [], stillRunning };
  const { rows: cancelled } = await tx.query<{ id: string; task_id: string; attempt: number }>(
    `DELETE FROM hg_runs r WHERE id = ANY($1::bigint[]) AND ${statusAmong('r', ['pending', 'queued'])} RETURNING id::text AS id, task_id::text AS task_id, attempt`,
    [waiting.map((n) => n.id)],
  );
  ctx.logger.info({ runs: cancelled.map((r) => r.id), reason: SUPERSEDED }, 'retries withdrawn');
  return { cancelled: cancelled.map((r) => ({ runId: r.id, taskId: r.task_id, attempt: r.attempt })), stillRunning };
}
