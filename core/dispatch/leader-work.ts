import type { CoreContext } from './context.ts';
import { Dispatcher } from './dispatcher.ts';
import type { LeaderTerm } from './leadership.ts';
import { reap } from './reaper.ts';
import { pruneHistory } from './retention.ts';

export interface LeaderWorkOptions {
  syncIntervalMs: number;
  maxBatch: number;
  workerTimeoutSeconds: number;
  /** a run queued this long, in a pool whose broker queue is empty, was lost by the broker (reaper.ts) */
  lostQueuedSeconds: number;
  retentionIntervalMs?: number;
}

const RETENTION_INTERVAL_MS = 60_000;

/**
 * What the leader does for its term: fires (the dispatcher), the reaper and retention. One wiring for the
 * server (cli/runtime.ts) and the simulator, so the simulator's leaders are the real ones. Every timer is
 * the context's clock. Every write of a decision is fenced by the term (`ctx.fence`): a leader that was
 * frozen, partitioned or misled by its clock cannot commit once another one leads.
 */
export async function startLeaderWork(ctx: CoreContext, term: LeaderTerm, options: LeaderWorkOptions): Promise<() => Promise<void>> {
  const fenced: CoreContext = { ...ctx, fence: term.fence };
  const dispatcher = new Dispatcher(fenced, { syncIntervalMs: options.syncIntervalMs, maxBatch: options.maxBatch });
  await dispatcher.start();
  const timeout = options.workerTimeoutSeconds;
  // a dead worker is declared within timeout + 5 s
  const reaper = ctx.clock.setInterval(() => {
    reap(fenced, { workerTimeoutSeconds: timeout, lostQueuedSeconds: options.lostQueuedSeconds }).catch((error: Error) => ctx.logger.warn({ err: error.message }, 'reaper pass failed'));
  }, Math.max(500, Math.min(5000, (timeout * 1000) / 10)));
  // the first pass after an election looks back a day, in case the previous leader fell behind
  let prunedUpTo = new Date(ctx.now() - 86_400_000);
  const retention = ctx.clock.setInterval(() => {
    const next = new Date(ctx.now() - 1000);
    pruneHistory(fenced, prunedUpTo).then(
      (deleted) => {
        prunedUpTo = next;
        if (deleted > 0) ctx.logger.debug({ deleted }, 'run history pruned to spec.history');
      },
      (error: Error) => ctx.logger.warn({ err: error.message }, 'history retention pass failed'),
    );
  }, options.retentionIntervalMs ?? RETENTION_INTERVAL_MS);
  return async () => {
    ctx.clock.clearInterval(retention);
    ctx.clock.clearInterval(reaper);
    await dispatcher.stop();
  };
}
