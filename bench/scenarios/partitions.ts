/**
 * Scenario 7 (issue 16): partitioned leadership. 30,000 schedules spread over the seconds of a minute
 * (`S * * * * *`, 500 due each second) fired by three dispatcher replicas in this process, each with its own
 * database pool, context and holder (startFiring, lease 5 s: the default dispatcher.leader_lease_seconds),
 * sharing the 64 fire partitions; one worker runs the jobs. Measured:
 * - once the three hold their shares (22/22/20): over a steady window, fires a second beside those due, the
 *   lag from the intended time to the job starting, and the shares;
 * - one dispatcher killed (kill -9: its connections reset, nothing released): the time until the two others
 *   hold all 64 partitions; then a second one vanished (its host gone: no byte passes, its sessions stay open
 *   on the server, so its liveness hint is of no help): the time until the last one holds all 64;
 * - then a new dispatcher joins (a restart, a scale-up): the time until the last one gave it half its partitions;
 * - from Postgres, over every slot from the steady window to 10 s after the join: slots with more than one
 *   run, slots with none, and slots recorded missed or run late; the lag during and after each move.
 * The tasks keep the default catchUp (Latest): a slot that passed while its partition was moving is run late
 * by the new holder (each task has at most one slot in a move of under a minute), not recorded missed.
 * `BENCH_CATCH_UP=None` (or All) gives the tasks another policy: with None such a slot, more than 1 s late
 * and before the new holder took the partition, is recorded missed.
 */
import type { PartitionListener } from '../../core/dispatch/fire-partitions.ts';
import { FIRE_PARTITIONS } from '../../core/dispatch/fire-partitions.ts';
import { latencies } from '../lib/stats.ts';
import { type DispatcherLogEntry, HourglassSystem } from '../systems/hourglass.ts';
import type { BenchSystem } from '../systems/types.ts';
import type { ScenarioOptions } from './options.ts';
import { CONCURRENCY } from './throughput.ts';

const DISPATCHERS = 3;
/** dispatcher.leader_lease_seconds' default */
const LEASE_MS = 5000;
/** a run queued later than this after its slot was late (plan-fires.ts: a fire this close to now is on time) */
const LATE_MS = 1000;
const PREFIX = 'sched-';

export function partitionsShape(quick: boolean): { tasks: number; steadyMs: number; afterMs: number } {
  return quick ? { tasks: 1500, steadyMs: 4000, afterMs: 4000 } : { tasks: 30_000, steadyMs: 20_000, afterMs: 10_000 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function until(condition: () => boolean, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return undefined;
    await sleep(10);
  }
  return Date.now();
}

export async function partitions(system: BenchSystem, options: ScenarioOptions): Promise<Record<string, number>> {
  if (!(system instanceof HourglassSystem)) throw new Error('partitions: Hourglass only (its dispatcher replicas)');
  const { tasks, steadyMs, afterMs } = partitionsShape(options.quick);
  Object.assign(system.config, { dispatchers: DISPATCHERS, leaseMs: LEASE_MS, dispatcherPool: '10 connections each, through a TCP proxy of its own' });

  // every job start: its slot and when it started; and how often each slot started (a slot run twice)
  const starts: Array<{ slot: number; at: number }> = [];
  const startsOf = new Map<string, number>();
  await system.startWorker(CONCURRENCY, (key, intendedMs) => {
    if (intendedMs === undefined) return;
    starts.push({ slot: intendedMs, at: Date.now() });
    startsOf.set(key, (startsOf.get(key) ?? 0) + 1);
  });
  // the tasks' default catchUp (Latest) unless BENCH_CATCH_UP names another (None: a slot a move made late is recorded missed)
  const catchUp = process.env.BENCH_CATCH_UP ?? 'Latest';
  system.config.catchUp = catchUp;
  await system.insertScheduledTasks(tasks, (i) => `${i % 60} * * * * *`, { prefix: PREFIX, spec: { catchUp } });

  // what each dispatcher was told it holds; `live`: those not killed or cut off
  const held: Array<Set<number>> = [];
  const heldBy = (n: number) => (held[n] ??= new Set());
  const live = new Set<number>();
  let overlaps = 0;
  let moves = 0;
  const observe = (n: number): PartitionListener => ({
    gained(ps) {
      moves += ps.length;
      for (const p of ps) {
        if ([...live].some((m) => m !== n && heldBy(m).has(p))) overlaps += 1;
        heldBy(n).add(p);
      }
    },
    lost(ps) {
      moves += ps.length;
      for (const p of ps) heldBy(n).delete(p);
    },
  });
  const sizes = () => [...live].map((n) => heldBy(n).size);
  const covered = () => new Set([...live].flatMap((n) => [...heldBy(n)])).size;
  /** every partition held by exactly one live dispatcher, none beyond its share */
  const balanced = () => {
    const share = Math.ceil(FIRE_PARTITIONS / live.size);
    return covered() === FIRE_PARTITIONS && sizes().reduce((a, b) => a + b, 0) === FIRE_PARTITIONS && sizes().every((s) => s <= share);
  };
  // writes of live dispatchers refused by their fence (a partition dropped between a tick and its write), and
  // their other failed dispatcher work; a killed or vanished one's failures are expected
  let fenceRefusals = 0;
  let workFailures = 0;
  const log = (n: number, entry: DispatcherLogEntry) => {
    if (!live.has(n) || entry.msg !== 'dispatcher work failed; retrying shortly') return;
    if (/lease .* is no longer held/.test(entry.err ?? '')) fenceRefusals += 1;
    else workFailures += 1;
  };
  const start = async (count: number) => {
    const before = held.length;
    const started = await system.startFiringDispatchers(count, { leaseMs: LEASE_MS, observe, log });
    started.forEach((_, i) => {
      heldBy(before + i);
      live.add(before + i);
    });
    return started;
  };

  const startedAt = Date.now();
  const dispatchers = await start(DISPATCHERS);
  const balancedAt = (await until(balanced, 60_000)) ?? Date.now();
  const shares = sizes();

  // steady: from the first whole second 2 s after the shares settled (the slots that passed while the tasks
  // were loaded are caught up first); a start up to 2 s after the window still counts
  const from = Math.ceil((balancedAt + 2000) / 1000) * 1000;
  const to = from + steadyMs;
  await sleep(from - Date.now());
  const movesBefore = moves;
  await sleep(to + 2000 - Date.now());
  const steadyMoves = moves - movesBefore;
  const sharesAfter = sizes();

  /** a failure or a start, then until the live dispatchers hold every partition in their shares, then the lag window after it */
  const move = async (what: () => void | Promise<unknown>) => {
    const at = Date.now();
    await what();
    const moved = (await until(balanced, 60_000)) ?? Date.now();
    const heldThen = covered();
    await sleep(moved + afterMs + 2000 - Date.now());
    return { at, moved, held: heldThen };
  };
  // kill -9 one of the largest shares
  const victim = [...live].sort((a, b) => heldBy(b).size - heldBy(a).size)[0] as number;
  const kill = await move(() => {
    live.delete(victim);
    dispatchers[victim]?.kill();
  });
  // the host of another vanishes
  const vanished = [...live][0] as number;
  const vanish = await move(() => {
    live.delete(vanished);
    dispatchers[vanished]?.vanish();
  });
  // a new dispatcher joins (a restart): the last one gives half its partitions up while it fires
  const join = await move(() => start(1));

  // every slot from the steady window's start to the end of the last window, read back from Postgres
  const end = Math.floor((join.moved + afterMs) / 1000) * 1000;
  const due = `SELECT t.id, s.slot FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 second', interval '1 second') AS s(slot)
                 JOIN hg_tasks t ON starts_with(t.name, $3) AND substr(t.name, length($3) + 1)::int % 60 = extract(second FROM s.slot)::int`;
  const [dueCount] = await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${due}) d`, [new Date(from), new Date(end), PREFIX]);
  // the slots with no run, with a missed record, or with a run queued late
  const problems = await system.query<{ slot: Date; kind: 'none' | 'missed' | 'late' }>(
    `SELECT d.slot, CASE WHEN r.task_id IS NULL THEN 'none' WHEN r.status = 'missed' THEN 'missed' ELSE 'late' END AS kind
       FROM (${due}) d LEFT JOIN LATERAL (
         SELECT task_id, status, queued_at FROM hg_runs WHERE task_id = d.id AND scheduled_time = d.slot LIMIT 1
       ) r ON true
      WHERE r.task_id IS NULL OR r.status = 'missed' OR r.queued_at > d.slot + $4 * interval '1 millisecond'`,
    [new Date(from), new Date(end), PREFIX, LATE_MS],
  );
  const lateIn = (a: number, b: number, kinds = ['missed', 'late']) => problems.filter((p) => kinds.includes(p.kind) && p.slot.getTime() >= a && p.slot.getTime() < b).length;
  // the slot key has the attempt too (a constraint): this counts runs of a (task, slot, shard) whatever their attempt
  const [dup] = await system.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM hg_runs WHERE trigger = 'schedule' GROUP BY task_id, scheduled_time, shard HAVING count(*) > 1) d`,
  );

  const lagOf = (a: number, b: number) => latencies(starts.filter((s) => s.slot >= a && s.slot < b).map((s) => s.at - s.slot));
  const maxLag = (a: number, b: number) => {
    const { max_ms } = lagOf(a, b);
    return Number.isNaN(max_ms) ? 0 : max_ms;
  };
  const steady = lagOf(from, to);
  const fires = starts.filter((s) => s.slot >= from && s.slot < to).length;
  const seconds = (ms: number) => Math.round(ms / 10) / 100;
  const phase = (name: string, p: { at: number; moved: number; held: number }) => ({
    [`rebalance_${name}_s`]: seconds(p.moved - p.at),
    [`held_after_${name}`]: p.held,
    // the slots from the event to the move done: those of the moving partitions wait for their new holder
    [`lag_max_during_${name}_ms`]: maxLag(p.at, p.moved),
    [`lag_p99_after_${name}_ms`]: lagOf(p.moved, p.moved + afterMs).p99_ms,
    // a slot of the second before the event may have been in the write the event cut short
    [`late_or_missed_${name}`]: lateIn(p.at - 1000, p.moved + afterMs),
    // of those, recorded missed instead of run (catchUp None: slots before the new holder took the partition)
    [`missed_records_${name}`]: lateIn(p.at - 1000, p.moved + afterMs, ['missed']),
  });
  const metrics: Record<string, number> = {
    balance_s: seconds(balancedAt - startedAt),
    share_min: Math.min(...shares),
    share_max: Math.max(...shares),
    share_min_after_window: Math.min(...sharesAfter),
    steady_moves: steadyMoves,
    fires_per_s: Math.round(fires / (steadyMs / 1000)),
    due_per_s: Math.round(tasks / 60),
    lag_p50_ms: steady.p50_ms,
    lag_p99_ms: steady.p99_ms,
    late_or_missed_steady: lateIn(from, to),
    ...phase('kill', kill),
    ...phase('vanish', vanish),
    ...phase('join', join),
    due_slots: dueCount?.n ?? 0,
    missed_slots: problems.filter((p) => p.kind === 'none').length,
    late_or_missed: problems.filter((p) => p.kind !== 'none').length,
    missed_records: problems.filter((p) => p.kind === 'missed').length,
    duplicates: dup?.n ?? 0,
    duplicate_starts: [...startsOf.values()].filter((n) => n > 1).length,
    told_overlaps: overlaps,
    fence_refusals: fenceRefusals,
    dispatcher_work_failures: workFailures,
  };
  return metrics;
}
