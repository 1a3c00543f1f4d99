import { compileSchedule, jitterMs } from '../schedule/index.ts';
import { databaseNow, forEachSchedulePage, loadSchedulesById, lockTasksForShare, type ScheduleState, TASK_CHANGED_CHANNEL } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { type CreatedRun, handOffCreated, insertRequestedRuns, type RunRequest } from './enqueue.ts';
import { type FirePartitions, partitionOf } from './fire-partitions.ts';
import { decidePolicies, missedReason, type DueFire } from './policies.ts';
import type { CancelTarget } from '../queue/port.ts';
import { CATCH_UP_ROWS_PER_TICK, SharedParts, batchFires, isCatchingUp, planEntry, type Entry, type PlannedFire } from './fire-plan.ts';
import { RetryTimer } from './retry-timer.ts';
import { TimerHeap } from './timer-heap.ts';
import type { TimerHandle } from '../clock/index.ts';
import { LeaseLostError, type Queryable } from '../store/index.ts';

export interface DispatcherOptions {
  /** how often task state is re-read from Postgres (changes normally arrive by NOTIFY at once) */
  syncIntervalMs: number;
  /** most runs written in one statement */
  maxBatch: number;
  /**
   * Fire only the tasks of the partitions this process holds (fire-partitions.ts), each write fenced by their
   * terms; the leader hands retries over (leader-work.ts). Without it the dispatcher fires every task under
   * `ctx.fence` and hands retries over itself (one process alone: tests, benchmarks).
   */
  partitions?: FirePartitions;
  /**
   * How long before their time the fires of preparable tasks (concurrencyPolicy Allow, no dependsOn) are
   * written: the transaction is prepared that much ahead and committed at the fire's time, so the runs become
   * visible to workers then, and not before. 0 (the default): every fire is written at its time. Keep it
   * far below the fence's idle timeout (half the lease), and 0 on PGlite, whose one session it would hold.
   */
  fireLeadMs?: number;
}

const MAX_RETRY_BACKOFF_MS = 30_000;
/** a write refused because a renewal of the partitions is late goes again this soon, without a backoff */
const LATE_RENEWAL_RETRY_MS = 250;

/**
 * Fires due schedules from an in-memory heap with one timer: no periodic scan of all tasks. Runs only
 * on the leader. Every decision goes through planFires (catch-up, deadline) and every run is written with
 * its (task, scheduled time, shard) key, so a fire replayed by a new leader is a no-op.
 */
export class Dispatcher {
  private readonly entries = new Map<string, Entry>();
  /** (time, task id, slot) */
  private readonly heap = new TimerHeap<string>();
  /** (time less the fire lead, task id, slot): the fires whose write is prepared ahead */
  private readonly ahead = new TimerHeap<string>();
  /** fire partitions gained whose tasks are not loaded yet (a load failed, or is queued) */
  private readonly unloaded = new Set<number>();
  /** catch-ups left out of the last tick's budget: they go first in the next (round robin) */
  private deferredCatchUps = new Set<string>();
  private readonly shared = new SharedParts();
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;
  private running = false;
  private loading = false;
  private busy: Promise<void> = Promise.resolve();
  private readonly unlisten: Array<() => Promise<void>> = [];
  private syncTimer: TimerHandle | undefined;
  private lastSync = new Date(0);
  private readonly changed = new Set<string>();
  /** when this dispatcher started: fires after it that it writes late were not missed in downtime */
  private liveSinceMs: number | undefined;
  private readonly ctx: CoreContext;
  private readonly options: DispatcherOptions;
  private readonly retries: RetryTimer | undefined;

  constructor(ctx: CoreContext, options: DispatcherOptions) {
    this.ctx = ctx;
    this.options = options;
    this.retries = options.partitions ? undefined : new RetryTimer(ctx);
  }

  /** Called by the partitions' holder (in order, synchronously): load the tasks of what was gained, forget the lost. */
  partitionsGained(partitions: number[]): void {
    for (const p of partitions) this.unloaded.add(p);
    this.enqueueWork(() => this.loadGained());
  }

  /** Loads the tasks of the partitions gained and not loaded yet; a failed load is tried again until it succeeds. */
  private async loadGained(): Promise<void> {
    const gained = new Set(this.unloaded);
    this.unloaded.clear();
    if (gained.size === 0) return;
    this.loading = true;
    try {
      await forEachSchedulePage(this.ctx.db, (page) => page.forEach((state) => this.upsert(state)), { partitions: [...gained] });
    } catch (error) {
      const held = new Set(this.options.partitions?.held());
      for (const p of gained) if (held.has(p)) this.unloaded.add(p);
      this.ctx.clock.setTimeout(() => this.enqueueWork(() => this.loadGained()), 1000);
      throw error;
    } finally {
      this.loading = false;
    }
    await this.tick();
  }

  partitionsLost(partitions: number[]): void {
    const lost = new Set(partitions);
    for (const p of partitions) this.unloaded.delete(p);
    this.enqueueWork(async () => {
      for (const id of this.entries.keys()) if (lost.has(partitionOf(id))) this.entries.delete(id);
      for (const id of this.deferredCatchUps) if (lost.has(partitionOf(id))) this.deferredCatchUps.delete(id);
    });
  }

  private owns(taskId: string): boolean {
    return this.options.partitions?.ownsTask(taskId) ?? true;
  }

  /** Starts scheduling; on failure everything it began is undone before the error is thrown. */
  async start(): Promise<void> {
    try {
      await this.begin();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async begin(): Promise<void> {
    this.running = true;
    this.liveSinceMs = this.ctx.now();
    this.unlisten.push(await this.ctx.db.listen(TASK_CHANGED_CHANNEL, (id) => this.taskChanged(id)));
    const syncStart = new Date((await databaseNow(this.ctx.db)).getTime() - 1000);
    // page by page: what the load holds at once stays small however many tasks there are. No timer is armed
    // before the last page: ticks between pages would fire some tasks while others are not loaded yet.
    // With partitions, what is held so far is loaded by partitionsGained (queued behind this start).
    if (!this.options.partitions) {
      this.loading = true;
      try {
        await forEachSchedulePage(this.ctx.db, (page) => page.forEach((state) => this.upsert(state)));
      } finally {
        this.loading = false;
      }
    }
    this.lastSync = syncStart;
    await this.retries?.start();
    this.ctx.logger.info({ tasks: this.entries.size }, 'dispatcher started');
    this.syncTimer = this.ctx.clock.setInterval(() => this.enqueueWork(() => this.sync()), this.options.syncIntervalMs);
    this.enqueueWork(() => this.tick());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.ctx.clock.clearTimeout(this.timer);
    this.ctx.clock.clearInterval(this.syncTimer);
    for (const stop of this.unlisten.splice(0)) await stop();
    await this.retries?.stop();
    await this.busy;
  }

  private taskChanged(id: string): void {
    if (!this.owns(id)) return;
    this.changed.add(id);
    this.enqueueWork(async () => {
      const ids = [...this.changed];
      // a burst of notifications queues one work item each, but the first one took all their ids
      if (ids.length === 0) return;
      this.changed.clear();
      try {
        for (const state of await loadSchedulesById(this.ctx.db, ids)) this.upsert(state);
      } catch (error) {
        for (const taskId of ids) this.changed.add(taskId);
        throw error;
      }
      await this.tick();
    });
  }

  /**
   * Catches changes whose NOTIFY was lost (a reconnect): reads tasks updated since the last sync. Runs whose
   * hand-off stalled, or whose retry notification was lost, are the reaper's (reaper.ts), not this.
   */
  private async sync(): Promise<void> {
    const since = this.lastSync;
    const next = new Date((await databaseNow(this.ctx.db)).getTime() - 1000);
    await forEachSchedulePage(this.ctx.db, (page) => page.forEach((state) => this.upsert(state)), { changedSince: since });
    this.lastSync = next;
    await this.tick();
  }

  private upsert(state: ScheduleState): void {
    const previous = this.entries.get(state.id);
    if (state.deleted || !state.schedule || state.suspend || !this.owns(state.id)) {
      this.entries.delete(state.id);
      return;
    }
    const expression = state.schedule;
    let schedule;
    try {
      schedule = this.shared.schedule(expression, state.timeZone, () => compileSchedule(expression, state.timeZone));
    } catch (error) {
      this.entries.delete(state.id);
      this.ctx.logger.warn({ taskId: state.id, err: (error as Error).message }, 'task has an invalid schedule; not scheduled');
      return;
    }
    const sameSchedule = previous?.schedule.expression === expression && previous.schedule.timeZone === schedule.timeZone;
    const entry: Entry = {
      id: state.id,
      schedule,
      rules: this.shared.rules({
        catchUp: state.catchUp,
        maxCatchUp: state.maxCatchUp,
        startingDeadlineSeconds: state.startingDeadlineSeconds,
        jitterSeconds: state.jitterSeconds,
        shards: state.shards,
        preparable: state.preparable,
      }),
      // our own fires are newer than what we last read back from the database, if they were of this schedule
      lastFireMs: Math.max(state.lastScheduledMs ?? -Infinity, sameSchedule ? (previous?.lastFireMs ?? -Infinity) : -Infinity),
      anchorMs: state.anchorMs,
      armedSlot: undefined,
      failures: 0,
    };
    // a fire before the anchor belongs to an earlier schedule or to a suspension: planning starts afresh
    if (!Number.isFinite(entry.lastFireMs) || (entry.lastFireMs as number) < entry.anchorMs) entry.lastFireMs = undefined;
    this.entries.set(state.id, entry);
    // the previous entry's slot is still on the heap only if it was armed (suspended tasks have no entry)
    const sameHeap = previous !== undefined && this.prepares(previous) === this.prepares(entry);
    this.armEntry(entry, -Infinity, sameSchedule && sameHeap ? previous.armedSlot : undefined);
  }

  /** whether this entry's next fire is written ahead of its time (a failed write goes at its time, alone) */
  private prepares(entry: Entry): boolean {
    return (this.options.fireLeadMs ?? 0) > 0 && entry.rules.preparable && entry.failures === 0;
  }

  /** when the slot fires: its time plus the task's jitter */
  private fireTime(entry: Entry, slot: number): number {
    return slot + jitterMs(entry.id, slot, entry.rules.jitterSeconds);
  }

  /**
   * Puts the task's first unfired slot on the heap; `notBefore` delays it (a failed write backs off).
   * `onHeap` is a slot the heap already holds for this task: it is not pushed twice, so edits that leave
   * the next fire alone do not grow the heap.
   */
  private armEntry(entry: Entry, notBefore = -Infinity, onHeap?: number): void {
    // the first slot not yet fired; a slot already past is picked up (and judged late or missed) at once
    const from = entry.lastFireMs ?? entry.anchorMs - 1;
    const slot = entry.schedule.next(from);
    if (slot === undefined) return;
    entry.armedSlot = slot;
    if (slot === onHeap && notBefore === -Infinity) return;
    const at = Math.max(this.fireTime(entry, slot), notBefore);
    if (notBefore === -Infinity && this.prepares(entry)) this.ahead.push(at - (this.options.fireLeadMs as number), entry.id, slot);
    else this.heap.push(at, entry.id, slot);
    this.arm();
  }

  private arm(): void {
    if (!this.running || this.loading) return;
    const next = Math.min(this.heap.peekTime() ?? Infinity, this.ahead.peekTime() ?? Infinity);
    if (next === Infinity || next >= this.armedAt) return;
    this.ctx.clock.clearTimeout(this.timer);
    this.armedAt = next;
    // setTimeout caps at ~24.8 days; a far timer just wakes up early and re-arms
    const delay = Math.min(Math.max(0, next - this.ctx.now()), 2 ** 31 - 1);
    this.timer = this.ctx.clock.setTimeout(() => {
      this.armedAt = Infinity;
      this.enqueueWork(() => this.tick());
    }, delay);
  }

  /** Serialises all work on the dispatcher's state; errors are logged and retried by the next tick. */
  private enqueueWork(work: () => Promise<void>): void {
    this.busy = this.busy.then(async () => {
      if (!this.running) return;
      try {
        await work();
      } catch (error) {
        this.ctx.logger.error({ err: (error as Error).message }, 'dispatcher work failed; retrying shortly');
        this.ctx.clock.setTimeout(() => this.enqueueWork(() => this.tick()), 1000).unref?.();
      }
    });
  }

  private async tick(): Promise<void> {
    const now = this.ctx.now();
    const fires = new Map<string, Entry>();
    for (const { key, value: slot } of this.heap.popDue(now)) {
      const entry = this.entries.get(key);
      if (entry && entry.armedSlot === slot) fires.set(key, entry);
    }
    const ahead = new Map<string, Entry>();
    for (const { key, value: slot } of this.ahead.popDue(now)) {
      const entry = this.entries.get(key);
      if (!entry || entry.armedSlot !== slot || fires.has(key)) continue;
      const at = this.fireTime(entry, slot);
      // due already (a late tick), no longer preparable (an edit, a failed write) or catching up: at its time
      if (at <= now) fires.set(key, entry);
      else if (!this.prepares(entry) || isCatchingUp(entry, at)) this.heap.push(at, key, slot);
      else ahead.set(key, entry);
    }
    let failure: unknown;
    try {
      if (fires.size > 0) await this.fire([...fires.values()], now);
    } catch (error) {
      failure = error;
    }
    try {
      if (ahead.size > 0) await this.fireAhead([...ahead.values()]);
    } catch (error) {
      failure ??= error;
    }
    this.arm();
    if (failure !== undefined) throw failure;
  }

  /**
   * The fires due within the lead, grouped by their time: each group's write is prepared now, in one
   * transaction, and committed at that time. Until then the runs are invisible to workers (no early start) and
   * the tasks' rows stay locked: an edit, a suspension or a deletion of one of them waits for the commit and
   * applies from the next slot, exactly as if it had come just after a fire written at its time. A write that
   * fails backs its tasks off as fire() does; they are written at their time from then on, alone.
   */
  private async fireAhead(entries: Entry[]): Promise<void> {
    const groups = new Map<number, Entry[]>();
    for (const entry of entries) {
      const at = this.fireTime(entry, entry.armedSlot as number);
      const group = groups.get(at);
      if (group) group.push(entry);
      else groups.set(at, [entry]);
    }
    let failure: unknown;
    for (const at of [...groups.keys()].sort((a, b) => a - b)) {
      // The dispatcher's work waits while a prepared write waits for its time: a fire due before then that is
      // written at its time (Forbid, Replace, dependsOn, a backoff) must not wait with it. This group is then
      // written at its time too.
      const atItsTime = this.heap.peekTime();
      if (atItsTime !== undefined && atItsTime < at) {
        for (const entry of groups.get(at) as Entry[]) this.heap.push(at, entry.id, entry.armedSlot as number);
        continue;
      }
      // in id order (uuid text order is Postgres's): the transaction's batches then lock tasks in the one order
      // every other writer of hg_tasks uses, which matters while it holds them until the fire's time
      const planned = (groups.get(at) as Entry[])
        .filter((entry) => this.owns(entry.id))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((entry) => planEntry(entry, at, this.liveSince(entry.id)));
      if (planned.length === 0) continue;
      const advance = advanceOf(planned);
      try {
        const created = await this.ctx.db.transaction(async (tx) => {
          const made: Written = { created: [], cancelled: [] };
          for (const batch of batchFires(planned, this.options.maxBatch)) {
            const written = await this.writeFireBatch(tx, batch, advanceOf(batch), at, at);
            made.created.push(...written.created);
            made.cancelled.push(...written.cancelled);
          }
          // committed at the fire's time: the runs become visible to workers then, and not before. Never held
          // longer than the lead: a clock that jumped back while this was prepared must not keep the tasks
          // locked (and this dispatcher's work waiting) for the jump
          const wait = Math.min(at - this.ctx.now(), this.options.fireLeadMs as number);
          if (wait > 0) await this.ctx.clock.sleep(wait);
          return made;
        });
        await this.afterWrite(created);
        for (const { entry } of planned) this.advanced(entry, advance);
      } catch (error) {
        if (this.options.partitions && error instanceof LeaseLostError) {
          for (const { entry } of planned) if (this.owns(entry.id)) this.armEntry(entry, 'partitions' in error ? at : at + LATE_RENEWAL_RETRY_MS);
          this.ctx.logger.info({ err: error.message }, 'fire partitions changed hands during a write prepared ahead; written again at its time');
          continue;
        }
        failure ??= error;
        for (const { entry } of planned) {
          entry.failures += 1;
          this.armEntry(entry, this.ctx.now() + Math.min(1000 * 2 ** (entry.failures - 1), MAX_RETRY_BACKOFF_MS));
        }
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Writes the fires of these entries in transactions of at most maxBatch tasks and MAX_ROWS_PER_WRITE runs:
   * first every fire that is on time, then at most CATCH_UP_ROWS_PER_TICK runs of catch-ups. The catch-ups
   * beyond that go back on the heap, due now: the next tick writes the fires that came due meanwhile first.
   * A failed write backs off only its own entries (the others are written all the same), and an entry whose
   * write failed is written alone from then on, so one task whose write keeps failing never holds up another.
   */
  private async fire(due: Entry[], now: number): Promise<void> {
    const onTime: PlannedFire[] = [];
    const catching: Entry[] = [];
    // a partition given up since the entry was armed: its new holder fires it
    const entries = due.filter((entry) => this.owns(entry.id));
    for (const entry of entries) {
      if (isCatchingUp(entry, now)) catching.push(entry);
      else onTime.push(planEntry(entry, now, this.liveSince(entry.id)));
    }
    // Round robin: the catch-ups left out last time go first, so a task that missed a fire or two is not
    // queued tick after tick behind another's backlog of thousands (which the heap would hand out first,
    // its next slot being hours older). Only what fits is planned: planning is most of a catch-up's CPU.
    const waited = this.deferredCatchUps;
    this.deferredCatchUps = new Set();
    catching.sort((a, b) => Number(waited.has(b.id)) - Number(waited.has(a.id)));
    const catchUp: PlannedFire[] = [];
    let budget = CATCH_UP_ROWS_PER_TICK;
    for (const entry of catching) {
      const planned = budget > 0 ? planEntry(entry, now, this.liveSince(entry.id)) : undefined;
      // one chunk always fits, so a task whose chunk alone is larger than the budget still catches up
      if (planned && (planned.rows <= budget || catchUp.length === 0)) {
        budget -= planned.rows;
        catchUp.push(planned);
      } else {
        budget = 0;
        this.deferredCatchUps.add(entry.id);
        this.heap.push(now, entry.id, entry.armedSlot as number);
      }
    }
    let failure: unknown;
    for (const planned of [...batchFires(onTime, this.options.maxBatch), ...batchFires(catchUp, this.options.maxBatch)]) {
      // one batch holds tasks of many partitions: one that changed hands meanwhile must not hold up the others
      const batch = planned.filter(({ entry }) => this.owns(entry.id));
      if (batch.length === 0) continue;
      try {
        await this.fireBatch(batch, now);
        for (const { entry } of batch) entry.failures = 0;
      } catch (error) {
        if (this.options.partitions && error instanceof LeaseLostError) {
          // not a failure of these tasks' writes: what is still held goes again at once (a lost partition
          // was given up by the fence) or, when a renewal is late, shortly; no backoff, no solo writes
          const retryAt = 'partitions' in error ? now : now + LATE_RENEWAL_RETRY_MS;
          for (const { entry } of batch) if (this.owns(entry.id)) this.armEntry(entry, retryAt);
          this.ctx.logger.info({ err: error.message }, 'fire partitions changed hands during a write; their tasks are left to the new holder, the others written again');
          continue;
        }
        failure ??= error;
        for (const { entry } of batch) {
          entry.failures += 1;
          const retryAt = now + Math.min(1000 * 2 ** (entry.failures - 1), MAX_RETRY_BACKOFF_MS);
          this.armEntry(entry, retryAt);
        }
      }
    }
    if (failure !== undefined) throw failure;
  }

  private async fireBatch(batch: PlannedFire[], now: number): Promise<void> {
    const advance = advanceOf(batch);
    if (advance.size > 0) await this.writeFires(batch, advance, now);
    for (const { entry } of batch) this.advanced(entry, advance);
  }

  /** after a committed write: the entry's last fire moves on and its next slot goes on the heap */
  private advanced(entry: Entry, advance: Map<string, Date>): void {
    const newest = advance.get(entry.id);
    if (newest) entry.lastFireMs = newest.getTime();
    this.armEntry(entry);
  }

  /**
   * The policies' decisions and the runs they make commit together, under the fence: a retry made between a
   * Replace decision and its write would otherwise run beside the new fire. The runs are made from the tasks as
   * they are under the lock (the dispatcher holds no spec); a task deleted meanwhile gets none. Cancellations
   * are told to workers once durable.
   */
  private async writeFires(batch: PlannedFire[], advance: Map<string, Date>, now: number): Promise<void> {
    await this.afterWrite(await this.ctx.db.transaction((tx) => this.writeFireBatch(tx, batch, advance, now)));
  }

  /**
   * The write of one batch of fires inside the caller's transaction, planned at `now`; `commitAt`: the time a
   * write prepared ahead commits at, which its runs record as made (created_at, queued_at).
   */
  private async writeFireBatch(tx: Queryable, batch: PlannedFire[], advance: Map<string, Date>, now: number, commitAt?: number): Promise<Written> {
    await this.fence(tx, batch); // a woken old owner of these tasks must not commit fires
    const tasks = await lockTasksForShare(tx, batch.map(({ entry }) => entry.id));
    const requests: RunRequest[] = [];
    const due: DueFire[] = [];
    for (const fire of batch) {
      const task = tasks.get(fire.entry.id);
      if (!task) continue;
      for (const slot of fire.missed) {
        requests.push({ task, scheduledTime: new Date(slot), trigger: 'schedule', terminal: { status: 'missed', ...missedReason(task, now - slot) } });
      }
      for (const slot of fire.due) due.push({ task, slot });
    }
    const decided = await decidePolicies(this.ctx, tx, due);
    return { created: await insertRequestedRuns(this.ctx, tx, [...requests, ...decided.requests], advance, commitAt), cancelled: decided.cancelled };
  }

  /** once a write committed: cancellations are told to workers, runs handed to a broker */
  private async afterWrite({ created, cancelled }: Written): Promise<void> {
    if (cancelled.length > 0) await this.ctx.queue.publishCancel(cancelled).catch((error: Error) => this.ctx.logger.warn({ err: error.message }, 'telling workers of replaced runs failed'));
    await handOffCreated(this.ctx, created);
  }

  /** The terms of the tasks' partitions (fire-partitions.ts), or the leader's (leadership.ts). */
  private async fence(tx: Queryable, batch: PlannedFire[]): Promise<void> {
    const { partitions } = this.options;
    if (partitions) await partitions.fence(tx, batch.map(({ entry }) => entry.id));
    else await this.ctx.fence?.(tx);
  }

  /** since when this process has fired the task: a fire after that written late was not missed in downtime */
  private liveSince(taskId: string): number | undefined {
    const held = this.options.partitions?.heldSince(taskId);
    return held === undefined ? this.liveSinceMs : Math.max(held, this.liveSinceMs ?? -Infinity);
  }
}

interface Written {
  created: CreatedRun[];
  cancelled: CancelTarget[];
}

/** each task's newest slot recorded by these fires (missed or due), or the last it had */
function advanceOf(planned: PlannedFire[]): Map<string, Date> {
  const advance = new Map<string, Date>();
  for (const { entry, missed, due } of planned) {
    // a loop, not Math.max(...missed, ...due): the spread builds an argument list per fire
    let newest = entry.lastFireMs ?? -Infinity;
    for (const slot of missed) if (slot > newest) newest = slot;
    for (const slot of due) if (slot > newest) newest = slot;
    if (Number.isFinite(newest)) advance.set(entry.id, new Date(newest));
  }
  return advance;
}
