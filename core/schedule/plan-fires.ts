import type { CompiledSchedule } from './compiled-schedule.ts';

export type CatchUpPolicy = 'None' | 'Latest' | 'All';

export interface FirePlan {
  /** fires to run now, oldest first */
  due: number[];
  /** fires to record as missed, oldest first; at most `limit` entries */
  missed: number[];
  /** first schedule time strictly after now */
  next: number | undefined;
  /**
   * set when more fires passed than `limit` allows to examine (long downtime, fast schedule):
   * the fires between the recorded missed ones and the most recent ones are neither run nor
   * recorded; they are only counted as not recorded here
   */
  truncated?: true;
}

export interface PlanFiresInput {
  schedule: CompiledSchedule;
  /** the last scheduled time already fired; undefined for a task that never fired */
  lastFireMs: number | undefined;
  createdMs: number;
  nowMs: number;
  catchUp: CatchUpPolicy;
  maxCatchUp: number;
  startingDeadlineSeconds?: number;
  /** most candidates examined; default 10,000 */
  limit?: number;
  /**
   * since when the planner (the dispatcher) has been running: a fire that came while it ran was not missed
   * in downtime but is late (a failed write, a pause), so catchUp None still runs the latest such fire
   */
  liveSinceMs?: number;
}

/** a fire this close to now is "on time" for catchUp None: its moment has just come */
const ON_TIME_MS = 1000;
const DEFAULT_LIMIT = 10_000;

/**
 * Decides which passed fires run now and which are recorded as missed. Candidates are the fire
 * times in (lastFireMs, nowMs], or [createdMs, nowMs] for a task that never fired. Pure and
 * bounded: at most about `limit` next() calls whatever the downtime.
 */
export function planFires(input: PlanFiresInput): FirePlan {
  const { schedule, nowMs, catchUp } = input;
  const limit = Math.max(1, Math.floor(input.limit ?? DEFAULT_LIMIT));
  const from = input.lastFireMs ?? input.createdMs - 1;
  const keep = Math.min(limit, catchUp === 'All' ? Math.max(1, Math.floor(input.maxCatchUp)) : 1);

  const head: number[] = [];
  let t = schedule.next(from);
  while (t !== undefined && t <= nowMs && head.length < limit) {
    head.push(t);
    t = schedule.next(t);
  }
  let candidates = head;
  let truncated = false;
  if (t !== undefined && t <= nowMs) {
    truncated = true;
    const tail = lastCandidates(schedule, head[head.length - 1] as number, nowMs, keep, limit);
    candidates = [...head.slice(0, Math.max(0, limit - tail.length)), ...tail];
  }

  const deadlineMs = input.startingDeadlineSeconds === undefined ? Number.POSITIVE_INFINITY : input.startingDeadlineSeconds * 1000;
  const dueSet = new Set<number>();
  const eligible = candidates.filter((c) => nowMs - c <= deadlineMs);
  const latest = eligible[eligible.length - 1];
  if (catchUp === 'None') {
    const late = latest !== undefined && input.liveSinceMs !== undefined && latest >= input.liveSinceMs;
    if (latest !== undefined && (nowMs - latest <= ON_TIME_MS || late)) dueSet.add(latest);
  } else if (catchUp === 'Latest') {
    if (latest !== undefined) dueSet.add(latest);
  } else {
    for (const c of eligible.slice(Math.max(0, eligible.length - Math.max(0, Math.floor(input.maxCatchUp))))) dueSet.add(c);
    if (input.maxCatchUp <= 0) dueSet.clear();
  }
  const plan: FirePlan = {
    due: candidates.filter((c) => dueSet.has(c)),
    missed: candidates.filter((c) => !dueSet.has(c)).slice(0, limit),
    next: schedule.next(nowMs),
  };
  if (truncated) plan.truncated = true;
  return plan;
}

/**
 * The last `keep` fire times in (after, now], examining at most `limit` per pass: widen a window
 * back from now until it holds `keep` fires, and narrow it again if it holds too many.
 */
function lastCandidates(schedule: CompiledSchedule, after: number, now: number, keep: number, limit: number): number[] {
  let tooFew = now; // window starts known to hold fewer than keep
  let span = 1000;
  for (;;) {
    const start = Math.max(after, now - span);
    const found = enumerate(schedule, start, now, limit);
    if (found === undefined) return narrow(schedule, start, tooFew, now, keep, limit);
    if (found.length >= keep || start === after) return found.slice(-keep);
    tooFew = start;
    span *= 2;
  }
}

function narrow(schedule: CompiledSchedule, tooMany: number, tooFew: number, now: number, keep: number, limit: number): number[] {
  let lo = tooMany;
  let hi = tooFew;
  let best = enumerate(schedule, hi, now, limit) ?? [];
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = enumerate(schedule, mid, now, limit);
    if (found === undefined) lo = mid;
    else {
      best = found;
      if (found.length >= keep) break;
      hi = mid;
    }
  }
  return best.slice(-keep);
}

/** fire times in (start, now], or undefined when there are more than limit */
function enumerate(schedule: CompiledSchedule, start: number, now: number, limit: number): number[] | undefined {
  const out: number[] = [];
  for (let t = schedule.next(start); t !== undefined && t <= now; t = schedule.next(t)) {
    if (out.length === limit) return undefined;
    out.push(t);
  }
  return out;
}
