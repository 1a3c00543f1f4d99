import type { Task } from '../model/index.ts';
import { jitterMs, planFires, type CompiledSchedule } from '../schedule/index.ts';

/** A scheduled task as the dispatcher holds it. */
export interface Entry {
  task: Task;
  schedule: CompiledSchedule | null;
  lastFireMs: number | undefined;
  /** when the current schedule took effect (planning never looks before it) */
  anchorMs: number;
  /** the slot the heap holds for this task; a heap entry for another slot is stale */
  armedSlot: number | undefined;
  invalid?: string;
  /** consecutive failed writes of this task's fires: its backoff, and it is written alone until one succeeds */
  failures?: number;
}

/** most slots (times shards) of one task written in one go; the rest of a catch-up follows at once */
const CATCH_UP_CHUNK = 500;
/** most runs written in one transaction */
const MAX_ROWS_PER_WRITE = 2000;

/** What one write carries for one task: the slots to record missed and those to run. */
export interface PlannedFire {
  entry: Entry;
  missed: number[];
  due: number[];
  rows: number;
}

/**
 * What to write for one entry now: planFires' decision, cut to the oldest CATCH_UP_CHUNK slots so that a
 * long catch-up is written chunk by chunk (each chunk re-arms the task at once) between other tasks' fires.
 * `liveSinceMs` is when the dispatcher started: a fire after it was written late, not missed in downtime.
 */
export function planEntry(entry: Entry, now: number, liveSinceMs: number | undefined): PlannedFire {
  const { task } = entry;
  const plan = planFires({
    schedule: entry.schedule as CompiledSchedule,
    lastFireMs: entry.lastFireMs,
    createdMs: entry.anchorMs,
    nowMs: now - jitterMs(task.id, entry.armedSlot as number, task.spec.jitterSeconds),
    catchUp: task.spec.catchUp,
    maxCatchUp: task.spec.maxCatchUp,
    ...(liveSinceMs !== undefined ? { liveSinceMs } : {}),
    ...(task.spec.startingDeadlineSeconds !== undefined ? { startingDeadlineSeconds: task.spec.startingDeadlineSeconds } : {}),
  });
  const perSlot = Math.max(1, task.spec.shards);
  const most = Math.max(1, Math.floor(CATCH_UP_CHUNK / perSlot));
  const slots = [...plan.missed.map((slot) => ({ slot, missed: true })), ...plan.due.map((slot) => ({ slot, missed: false }))].sort((a, b) => a.slot - b.slot);
  const chunk = slots.slice(0, most);
  return {
    entry,
    missed: chunk.filter((s) => s.missed).map((s) => s.slot),
    due: chunk.filter((s) => !s.missed).map((s) => s.slot),
    rows: chunk.length * perSlot,
  };
}

/**
 * Groups planned fires into writes of at most `maxBatch` tasks and MAX_ROWS_PER_WRITE runs; a task whose
 * last write failed goes alone, so a write that keeps failing holds up no other task.
 */
export function* batchFires(planned: PlannedFire[], maxBatch: number): Generator<PlannedFire[]> {
  let batch: PlannedFire[] = [];
  let rows = 0;
  for (const fire of planned) {
    if (fire.entry.failures) {
      yield [fire];
      continue;
    }
    if (batch.length > 0 && (batch.length >= maxBatch || rows + fire.rows > MAX_ROWS_PER_WRITE)) {
      yield batch;
      batch = [];
      rows = 0;
    }
    batch.push(fire);
    rows += fire.rows;
  }
  if (batch.length > 0) yield batch;
}
