import { countFinishedRuns, deleteRunsBeyondHistoryLimits, deleteWorkersDownSince, taskIdsAfter } from '../store/index.ts';
import type { CoreContext } from './context.ts';

/** a worker DOWN this long is forgotten (its row in hg_workers is deleted) */
const FORGET_WORKERS_AFTER_MS = 24 * 3_600_000;
/** tasks pruned per transaction: each holds the leader's fence for a fraction of a second, never across its lease renewal */
const PRUNE_CHUNK = 200;
/** tasks the sweep prunes per pass, finished runs or not */
const SWEEP_PER_PASS = 1000;
/** a task is pruned once a tenth of its smaller history limit has finished since its last pruning (at least every run) */
const SLACK_DIVISOR = 10;

/**
 * Keeps each task's history within spec.history: the newest `successfulRunsLimit` succeeded runs and the
 * newest `failedRunsLimit` of every other finished status (failed, timed out, cancelled, missed, skipped).
 * Active runs are never touched; their logs go with them (ON DELETE CASCADE). Workers DOWN for a day are
 * forgotten too (hg_workers would grow for ever).
 *
 * Pruning a task costs a walk of its limits on hg_runs_task, so a pass does it only where it pays: for the
 * tasks that finished a tenth of their smaller limit since they were last pruned (counted from the runs
 * finished between passes; the history goes at most that far past a limit), and for a sweep of
 * SWEEP_PER_PASS tasks in id order that goes round every task, which catches what the counts cannot see
 * (runs finished before this leader's term, a task that fires once a day). With 100,000 tasks firing every
 * minute, the pass that walked every touched task's limits at once ran past the statement timeout every
 * time, so nothing was ever pruned, and it held the leader's fence for those 30 s. Now each transaction
 * prunes PRUNE_CHUNK tasks.
 */
export class HistoryRetention {
  readonly #ctx: CoreContext;
  /** per task, its runs finished since it was last pruned, while fewer than its slack */
  readonly #finishedSincePruned = new Map<string, number>();
  #countedUpTo: Date | undefined;
  #sweepAfter: string | null = null;
  readonly #sweepPerPass: number;
  #running = false;

  /** `sweepPerPass`: SWEEP_PER_PASS unless a test asks for another (0: no sweep) */
  constructor(ctx: CoreContext, options: { sweepPerPass?: number } = {}) {
    this.#ctx = ctx;
    this.#sweepPerPass = options.sweepPerPass ?? SWEEP_PER_PASS;
  }

  /**
   * One pass; returns how many runs it deleted. A pass asked for while one is still going (a timer outran
   * it) does nothing and returns 0: the next one starts after it, never beside it.
   */
  async pass(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    try {
      return await this.#pass();
    } finally {
      this.#running = false;
    }
  }

  async #pass(): Promise<number> {
    const ctx = this.#ctx;
    const until = new Date(ctx.now() - 1000);
    const due = new Set<string>();
    if (this.#countedUpTo) {
      for (const { taskId, finished, smallestLimit } of await countFinishedRuns(ctx.db, this.#countedUpTo, until)) {
        const since = (this.#finishedSincePruned.get(taskId) ?? 0) + finished;
        this.#finishedSincePruned.set(taskId, since);
        if (since >= Math.max(1, Math.floor(smallestLimit / SLACK_DIVISOR))) due.add(taskId);
      }
    }
    this.#countedUpTo = until;
    if (this.#sweepPerPass > 0) {
      const swept = await taskIdsAfter(ctx.db, this.#sweepAfter, this.#sweepPerPass);
      for (const id of swept) due.add(id);
      this.#sweepAfter = swept.length < this.#sweepPerPass ? null : (swept[swept.length - 1] as string);
    }
    let deleted = 0;
    const tasks = [...due];
    for (let i = 0; i < tasks.length; i += PRUNE_CHUNK) {
      const chunk = tasks.slice(i, i + PRUNE_CHUNK);
      deleted += await this.#prune(chunk);
      for (const id of chunk) this.#finishedSincePruned.delete(id);
    }
    await deleteWorkersDownSince(ctx.db, new Date(ctx.now() - FORGET_WORKERS_AFTER_MS));
    return deleted;
  }

  /** the leader's pruning is fenced (leader-work.ts): a woken old leader deletes nothing */
  #prune(taskIds: string[]): Promise<number> {
    const { fence, db } = this.#ctx;
    return db.transaction(async (tx) => {
      await fence?.(tx);
      return deleteRunsBeyondHistoryLimits(tx, taskIds);
    });
  }
}
