import { jitterMs, planFires, type CatchUpPolicy, type CompiledSchedule } from '../schedule/index.ts';

/**
 * The spec fields planning reads. Tasks with equal ones share one frozen object (FireRules.of), so an entry
 * holds a reference, not a copy.
 */
export interface FireRules {
  readonly catchUp: CatchUpPolicy;
  readonly maxCatchUp: number;
  readonly startingDeadlineSeconds: number | undefined;
  readonly jitterSeconds: number;
  readonly shards: number;
  /** the fire's write may be prepared before its time and committed at it (ScheduleState.preparable) */
  readonly preparable: boolean;
}

/**
 * A scheduled task as the dispatcher holds it: a few numbers and shared references, ~200 bytes whatever the
 * spec. The task itself is read, under its lock, by the write that fires it. Suspended tasks and invalid
 * schedules have no entry.
 */
export interface Entry {
  readonly id: string;
  /** shared by every task with the same expression and time zone */
  readonly schedule: CompiledSchedule;
  readonly rules: FireRules;
  lastFireMs: number | undefined;
  /** when the current schedule took effect (planning never looks before it) */
  anchorMs: number;
  /** the slot the heap holds for this task; a heap entry for another slot is stale */
  armedSlot: number | undefined;
  /** consecutive failed writes of this task's fires: its backoff, and it is written alone until one succeeds */
  failures: number;
}

/** most slots (times shards) of one task written in one go; the rest of a catch-up follows in later ticks */
const CATCH_UP_CHUNK = 500;
/** most runs written in one transaction */
const MAX_ROWS_PER_WRITE = 2000;
/**
 * Most catch-up runs written per tick, after the tick's on-time fires: the rest of a catch-up waits on the heap
 * for the next tick, so a fire that comes due meanwhile waits for one such write at most, never for the backlog.
 * One chunk: a write of 2,000 catch-up runs took ~460 ms on the busy 2-core development machine (load 7), too
 * long to sit in front of an on-time fire; bench/README.md (catch-up) has what 500 cost.
 */
export const CATCH_UP_ROWS_PER_TICK = CATCH_UP_CHUNK;

/** What one write carries for one task: the slots to record missed and those to run. */
export interface PlannedFire {
  entry: Entry;
  missed: number[];
  due: number[];
  rows: number;
}

/** The first slot of the entry not yet fired, from which planning starts. */
function firstUnfired(entry: Entry): number | undefined {
  return entry.schedule.next(entry.lastFireMs ?? entry.anchorMs - 1);
}

/**
 * True when more than one of the entry's slots has passed: a catch-up (downtime, a long failed write),
 * which the dispatcher writes a chunk per tick after the fires that are on time. Two next() calls, so it is
 * cheap enough to ask of every due entry before anything is planned.
 */
export function isCatchingUp(entry: Entry, now: number): boolean {
  const first = firstUnfired(entry);
  if (first === undefined) return false;
  const second = entry.schedule.next(first);
  return second !== undefined && second <= now - jitterMs(entry.id, second, entry.rules.jitterSeconds);
}

/**
 * What to write for one entry now: planFires' decision, cut to the oldest CATCH_UP_CHUNK slots so that a
 * long catch-up is written chunk by chunk between other tasks' fires.
 * `liveSinceMs` is when the dispatcher started: a fire after it was written late, not missed in downtime.
 */
export function planEntry(entry: Entry, now: number, liveSinceMs: number | undefined): PlannedFire {
  const { rules } = entry;
  const plan = planFires({
    schedule: entry.schedule,
    lastFireMs: entry.lastFireMs,
    createdMs: entry.anchorMs,
    nowMs: now - jitterMs(entry.id, entry.armedSlot as number, rules.jitterSeconds),
    catchUp: rules.catchUp,
    maxCatchUp: rules.maxCatchUp,
    ...(liveSinceMs !== undefined ? { liveSinceMs } : {}),
    ...(rules.startingDeadlineSeconds !== undefined ? { startingDeadlineSeconds: rules.startingDeadlineSeconds } : {}),
  });
  const perSlot = Math.max(1, rules.shards);
  const most = Math.max(1, Math.floor(CATCH_UP_CHUNK / perSlot));
  // the common case, a fire on time: nothing to merge or cut (each fire of 100,000 schedules passes here)
  if (plan.missed.length === 0 && plan.due.length <= most) return { entry, missed: plan.missed, due: plan.due, rows: plan.due.length * perSlot };
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
    if (fire.entry.failures > 0) {
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

/** Interns FireRules and compiled schedules: equal ones are one object, whatever the number of tasks. */
export class SharedParts {
  readonly #rules = new Map<string, FireRules>();
  readonly #schedules = new Map<string, CompiledSchedule>();

  rules(fields: FireRules): FireRules {
    const key = `${fields.catchUp}|${fields.maxCatchUp}|${fields.startingDeadlineSeconds}|${fields.jitterSeconds}|${fields.shards}|${fields.preparable}`;
    let rules = this.#rules.get(key);
    if (!rules) {
      rules = Object.freeze({ ...fields });
      this.#remember(this.#rules, key, rules);
    }
    return rules;
  }

  /** `compile` is called once per distinct (expression, time zone); a compiled schedule is pure, so sharing it is safe */
  schedule(expression: string, timeZone: string | undefined, compile: () => CompiledSchedule): CompiledSchedule {
    const key = `${timeZone ?? ''}\u0000${expression}`;
    let schedule = this.#schedules.get(key);
    if (!schedule) {
      schedule = compile();
      this.#remember(this.#schedules, key, schedule);
    }
    return schedule;
  }

  /** bounded: an entry keeps its own reference, so forgetting only costs sharing for later tasks */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= SHARED_LIMIT) map.clear();
    map.set(key, value);
  }
}

const SHARED_LIMIT = 10_000;
