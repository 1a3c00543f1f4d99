import type { CoreContext } from './context.ts';
import { promoteDueRuns } from './enqueue.ts';
import { finishAttempts } from './outcomes.ts';

export interface ReaperOptions {
  workerTimeoutSeconds: number;
  /** a run queued this long, in a pool whose broker queue is empty, was lost by the broker */
  lostQueuedSeconds?: number;
}

/**
 * The leader's housekeeping: a worker silent for worker_timeout_seconds is declared DOWN and its running
 * attempts fail with the reason (and are retried where the task allows); runs that hold a claim but whose
 * worker never reported are treated the same way. Also hands stalled pending runs to the queue again.
 */
export async function reap(ctx: CoreContext, options: ReaperOptions): Promise<{ workersDown: number; runsFailed: number }> {
  const timeout = options.workerTimeoutSeconds;
  const { rows: down } = await ctx.db.query<{ id: string }>(
    `UPDATE hg_workers SET status = 'DOWN'
      WHERE status <> 'DOWN' AND last_heartbeat_at < now() - make_interval(secs => $1) RETURNING id`,
    [timeout],
  );
  for (const worker of down) ctx.logger.warn({ workerId: worker.id, timeoutSeconds: timeout }, 'worker declared dead: no heartbeat');
  const { rows: orphans } = await ctx.db.query<HeldRun>(
    `SELECT r.id::text AS id, r.attempt, r.worker_id FROM hg_runs r LEFT JOIN hg_workers w ON w.id = r.worker_id
      WHERE r.status = 'running' AND (w.id IS NULL OR w.status = 'DOWN')
        AND COALESCE(r.started_at, r.created_at) < now() - make_interval(secs => $1)`,
    [timeout],
  );
  await failAttempts(ctx, orphans, (run) => `worker ${run.worker_id ?? '(unknown)'} declared dead: no heartbeat for ${timeout}s`);
  // A live worker that has not listed an attempt for a whole timeout does not execute it: its claim was
  // granted but the answer never reached it (a dropped connection), so nobody will ever report it.
  const { rows: unheld } = await ctx.db.query<HeldRun>(
    `SELECT r.id::text AS id, r.attempt, r.worker_id FROM hg_runs r JOIN hg_workers w ON w.id = r.worker_id
      WHERE r.status = 'running' AND w.status <> 'DOWN'
        AND r.started_at < now() - make_interval(secs => $1) AND r.started_at < w.last_heartbeat_at - interval '2 seconds'
        AND NOT w.held_runs ? (r.id::text || '/' || r.attempt::text)`,
    [timeout],
  );
  await failAttempts(ctx, unheld, (run) => `worker ${run.worker_id} does not hold this attempt: its claim was granted but never reached it`);
  // pending runs older than a few seconds missed their hand-off (a broker was down): publish them again
  await promoteDueRuns(ctx);
  if (ctx.queue.kind !== 'postgres') await republishLost(ctx, options.lostQueuedSeconds ?? 60);
  return { workersDown: down.length, runsFailed: orphans.length + unheld.length };
}

interface HeldRun {
  id: string;
  attempt: number;
  worker_id: string | null;
}

/** Fails attempts nobody will report on, with the reason; retries follow where the task allows. */
function failAttempts(ctx: CoreContext, runs: HeldRun[], reason: (run: HeldRun) => string): Promise<void> {
  return finishAttempts(ctx, runs.map((run) => ({ runId: run.id, attempt: run.attempt, status: 'failed' as const, at: new Date(ctx.now()), error: reason(run) })));
}

/**
 * A broker without persistence (Redis with no AOF, a purged queue) can lose queued runs while the leader
 * stays up. A pool whose broker queue is empty while Postgres still holds runs queued for a long time has
 * lost them: they are published again (claims make a duplicate harmless). A busy pool is left alone, so a
 * long backlog is never published twice.
 */
async function republishLost(ctx: CoreContext, lostQueuedSeconds: number): Promise<void> {
  const { rows } = await ctx.db.query<{ pool: string }>(
    `SELECT DISTINCT pool FROM hg_runs WHERE status = 'queued' AND queued_at < now() - make_interval(secs => $1)`,
    [lostQueuedSeconds],
  );
  for (const { pool } of rows) {
    if ((await ctx.queue.backlog(pool)) > 0) continue;
    const count = await promoteDueRuns(ctx, { includeQueued: true, queuedOlderThanMs: lostQueuedSeconds * 1000, pool });
    if (count > 0) ctx.logger.warn({ pool, runs: count }, 'runs queued in Postgres were missing from the broker; published again');
  }
}
