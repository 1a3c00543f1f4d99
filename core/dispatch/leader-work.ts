import type { CoreContext } from './context.ts';
import { Dispatcher } from './dispatcher.ts';
import { type FirePartitions, holdFirePartitions, type PartitionListener } from './fire-partitions.ts';
import type { LeaderTerm } from './leadership.ts';
import { reap } from './reaper.ts';
import { HistoryRetention } from './retention.ts';
import { RetryTimer } from './retry-timer.ts';

export interface LeaderWorkOptions {
  workerTimeoutSeconds: number;
  /** a run queued this long, in a pool whose broker queue is empty, was lost by the broker (reaper.ts) */
  lostQueuedSeconds: number;
  retentionIntervalMs?: number;
}

export interface FiringOptions {
  /** how often task state is re-read from Postgres (changes normally arrive by NOTIFY at once) */
  syncIntervalMs: number;
  maxBatch: number;
  /** fires of preparable tasks are written this long ahead and committed at their time (dispatcher.fire_lead_ms; 0 on PGlite) */
  fireLeadMs?: number;
  /** a fire partition not renewed for this long moves to another dispatcher (dispatcher.leader_lease_seconds) */
  leaseMs: number;
  /** the partitions' holder id (default: host, pid and a random suffix) */
  holder?: string;
  /** told as partitions come and go, after the dispatcher (metrics, the simulator's record of terms) */
  observe?: PartitionListener;
}

export interface Firing {
  partitions: FirePartitions;
  stop(): Promise<void>;
}

const RETENTION_INTERVAL_MS = 60_000;

/**
 * What the one leader does for its term: the reaper, retention, and handing retries to the queue. One wiring
 * for the server (cli/runtime.ts) and the simulator, so the simulator's leaders are the real ones. Every
 * timer is the context's clock. Every write of a decision is fenced by the term (`ctx.fence`): a leader that
 * was frozen, partitioned or misled by its clock cannot commit once another one leads. Firing schedules is
 * not the leader's: every dispatcher fires the tasks of its partitions (startFiring).
 */
export async function startLeaderWork(ctx: CoreContext, term: LeaderTerm, options: LeaderWorkOptions): Promise<() => Promise<void>> {
  const fenced: CoreContext = { ...ctx, fence: term.fence };
  const retries = new RetryTimer(fenced);
  await retries.start();
  const timeout = options.workerTimeoutSeconds;
  // a dead worker is declared within timeout + 5 s
  const reaper = ctx.clock.setInterval(() => {
    reap(fenced, { workerTimeoutSeconds: timeout, lostQueuedSeconds: options.lostQueuedSeconds }).catch((error: Error) => ctx.logger.warn({ err: error.message }, 'reaper pass failed'));
  }, Math.max(500, Math.min(5000, (timeout * 1000) / 10)));
  const history = new HistoryRetention(fenced);
  const retention = ctx.clock.setInterval(() => {
    history.pass().then(
      (deleted) => {
        if (deleted > 0) ctx.logger.debug({ deleted }, 'run history pruned to spec.history');
      },
      (error: Error) => ctx.logger.warn({ err: error.message }, 'history retention pass failed'),
    );
  }, options.retentionIntervalMs ?? RETENTION_INTERVAL_MS);
  return async () => {
    ctx.clock.clearInterval(retention);
    ctx.clock.clearInterval(reaper);
    await retries.stop();
  };
}

/**
 * What every dispatcher replica does: hold a fair share of the fire partitions (fire-partitions.ts) and fire
 * the schedules of their tasks. N replicas share the firing work; a dead one's partitions move to the others.
 */
export function startFiring(ctx: CoreContext, options: FiringOptions): Firing {
  let dispatcher: Dispatcher | undefined;
  let stopped = false;
  const partitions = holdFirePartitions(
    ctx.db,
    ctx.logger,
    {
      gained: (p) => {
        dispatcher?.partitionsGained(p);
        options.observe?.gained(p);
      },
      lost: (p) => {
        dispatcher?.partitionsLost(p);
        options.observe?.lost(p);
      },
    },
    { clock: ctx.clock, leaseMs: options.leaseMs, ...(options.holder ? { holder: options.holder } : {}) },
  );
  // partitions are taken only once a dispatcher is there to fire them; a database down at start is waited out
  const started = (async () => {
    while (!stopped) {
      const candidate = new Dispatcher(ctx, { syncIntervalMs: options.syncIntervalMs, maxBatch: options.maxBatch, partitions, fireLeadMs: options.fireLeadMs ?? 0 });
      try {
        await candidate.start();
        dispatcher = candidate;
        partitions.start();
        return;
      } catch (error) {
        ctx.logger.warn({ err: (error as Error).message }, 'dispatcher failed to start; retrying');
        await ctx.clock.sleep(1000);
      }
    }
  })();
  return {
    partitions,
    async stop() {
      stopped = true;
      await started;
      await dispatcher?.stop();
      await partitions.stop();
    },
  };
}
