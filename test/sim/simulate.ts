import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { ACTIVE_STATUSES } from '../../core/model/index.ts';
import { cancelRun } from '../../core/dispatch/run-actions.ts';
import { createTaskFromInput, deleteTaskByRef, replaceTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgliteDb } from '../../core/store/pglite-db.ts';
import { finalChecks, GUARDS_SQL, probe, type Knowledge, type Window } from './invariants.ts';
import { hash32 } from './prng.ts';
import { makeScenario, POOLS, type SimTask } from './scenario.ts';
import type { BrokerFaults } from './sim-broker.ts';
import type { DbFaults } from './sim-db.ts';
import { World } from './world.ts';
import { settle } from './settle.ts';

export interface SimOptions {
  /** virtual time with faults and events, ms */
  activeMs: number;
  /**
   * virtual time to settle afterwards, without faults, ms; the settling goes on in steps of 10 s while runs
   * are still active, up to MAX_SETTLE_MS (a retried timeout can outlast any fixed margin)
   */
  settleMs: number;
  faults: boolean;
  /** heartbeats may overtake outcomes (issue 12 defect 1, owned by the queue and worker side) */
  heartbeatsOvertake: boolean;
  /**
   * database round trips may hang longer than worker_timeout (5 to 40 s instead of 1 to 8 s): the status
   * writes stall and live workers are declared dead (issue 12 defect 11, owned by the queue side)
   */
  longStalls: boolean;
  /**
   * a granted claim's answer may be lost (the worker is granted the attempt again on redelivery, while the
   * reaper may already fail it as unheld): issue 12 defect 6, owned by the queue side
   */
  lostClaimAnswers: boolean;
  /** claims decided by the broker (redis_stream's claim keys), not by the core on the run's row (rabbitmq) */
  brokerClaims: boolean;
  /** status batches applied side by side by every core consumer (a consumer group), not one at a time */
  parallelStatus: boolean;
  /** workers may freeze past worker_timeout (a partitioned host) and go on, so late outcomes meet their retries */
  workerFreezes: boolean;
  fullTrace?: boolean;
}

export const DEFAULT_OPTIONS: SimOptions = { activeMs: 90_000, settleMs: 150_000, faults: true, heartbeatsOvertake: false, longStalls: false, lostClaimAnswers: false, brokerClaims: false, parallelStatus: false, workerFreezes: false };

export interface SeedResult {
  seed: number;
  violations: string[];
  trace: string[];
  stats: { runs: number; executions: number; events: number; virtualMs: number; steps: number };
  /** the seed never ended: its database is left in use by the stuck world and must be replaced */
  hung?: boolean;
}

const START_MS = Date.UTC(2026, 2, 1, 12, 0, 0);
const MAX_SKEW_MS = 400;
/** how often, in virtual time, the continuous invariants are probed */
const PROBE_EVERY_MS = 2000;
const MAX_SETTLE_MS = 600_000;
/** past the longest freeze (40 s) and the longest hang (40 s with --long-stalls), and past worker_timeout */
const MIN_SETTLE_MS = 45_000;
const QUIET_STEP_MS = 10_000;
const BASE_DB: DbFaults = { failQuery: 0.01, failCommit: 0.01, failAfterCommit: 0.005, hang: 0.002, hangMs: [1000, 8000], loseNotify: 0.05 };
const BASE_BROKER: Omit<BrokerFaults, 'heartbeatsOvertake' | 'brokerClaims' | 'parallelStatus'> = {
  publishFail: 0.02, publishAmbiguous: 0.02, duplicate: 0.03, statusFail: 0.02, statusAmbiguous: 0.02, claimLost: 0.02, claimAnswerLost: 0.02, maxDelayMs: 2000,
};

/**
 * PGlite arms Postgres's internal timers (by all signs the idle statistics flush) with a real setTimeout whose delay it
 * computes from the virtual clock against a time stamped at startup in true time: some 276 days, which Node
 * cuts to 1 ms with a TimeoutOverflowWarning per timer. The flush changes no query's result (the replay test
 * in sim.test.ts holds), so that one warning is dropped in simulator processes, and only that one.
 */
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === 'TimeoutOverflowWarning' || (warning instanceof Error && warning.name === 'TimeoutOverflowWarning')) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

/** The one embedded database all seeds share; each seed empties it first (ids restart), so seeds replay alike. */
export async function openSimDatabase(): Promise<Db> {
  const db = await openPgliteDb(undefined);
  await migrate(db);
  await db.exec(GUARDS_SQL);
  return db;
}

async function reset(db: Db): Promise<void> {
  // TRUNCATE, not DELETE: fresh files, so rows lie where they lay in any other run of the seed (a query
  // without ORDER BY returns them in storage order, and a replay must see the same order)
  await db.exec('TRUNCATE hg_run_logs, hg_runs, hg_workers, hg_pools, hg_tasks, hg_leases, hg_dead_letters, sim_violations, sim_withdrawn RESTART IDENTITY CASCADE');
  await db.exec("UPDATE hg_status_path SET proven_at = '-infinity'");
}

/** Runs one seed of the world to the end and judges it. Deterministic: the same seed gives the same trace. */
export async function runSeed(db: Db, seed: number, options: SimOptions = DEFAULT_OPTIONS): Promise<SeedResult> {
  await reset(db);
  const world = new World(db, { seed, startMs: START_MS, maxSkewMs: MAX_SKEW_MS, fullTrace: options.fullTrace });
  const restore = installDeterminism(world, seed);
  // setTimeout is the real clock (only Date.now follows the world): a seed stuck for good is reported, not waited on
  let watchdog: NodeJS.Timeout | undefined;
  const hung = new Promise<SeedResult>((resolve) => {
    watchdog = setTimeout(() => resolve(hungResult(world, seed, `no end after ${HANG_REAL_MS / 1000} s of real time: the driver waited on something no timer could settle`)), HANG_REAL_MS);
  });
  let result: SeedResult | undefined;
  try {
    result = await Promise.race([
      play(world, db, seed, options).catch((error: unknown) => {
        if (error instanceof WorldStuck) return hungResult(world, seed, error.message);
        throw error;
      }),
      hung,
    ]);
    return result;
  } finally {
    clearTimeout(watchdog);
    // a hung world may hang on its way down too: its database is poisoned and left to the caller (result.hung)
    if (!result?.hung) await world.shutdown();
    restore();
  }
}

/**
 * Real time after which a seed that has not ended is judged stuck: a seed takes about a second, so only a
 * world waiting on something that can never happen (a promise no timer will settle) gets here.
 */
const HANG_REAL_MS = Number(process.env.SIM_HANG_MS ?? 90_000);

function hungResult(world: World, seed: number, why: string): SeedResult {
  world.log(`HUNG: ${why}; timers ${JSON.stringify(world.time.pendingByOwner())}; session held ${world.db.sessionHeld}; round trips in flight ${world.db.inflight}`);
  // the stuck driver may be stepping through timers that never end (heartbeats): stop the world's time for good
  world.time.halt();
  return {
    seed,
    violations: [`the world hung: ${why} (SIM_LIVE=1 prints the trace as it goes)`],
    trace: world.trace,
    stats: { runs: 0, executions: world.executions.length, events: 0, virtualMs: world.time.now - START_MS, steps: 0 },
    hung: true,
  };
}

async function play(world: World, db: Db, seed: number, options: SimOptions): Promise<SeedResult> {
  const violations: string[] = [];
  let steps = 0;
  const scenario = makeScenario(world.prng.fork(3), options.activeMs, { workerFreezes: options.workerFreezes });
  const know: Knowledge = { tasks: scenario.tasks, manualFires: new Set(), windows: new Map(), deletedAt: new Map(), activeEndMs: START_MS + options.activeMs, maxSkewMs: MAX_SKEW_MS };
  const applyFaults = (factor: number) => {
    world.db.faults = { ...(options.faults ? scale(BASE_DB, factor) : scale(BASE_DB, 0)), hangMs: options.longStalls ? [5000, 40_000] : BASE_DB.hangMs };
    const broker = options.faults ? scale(BASE_BROKER, factor) : scale(BASE_BROKER, 0);
    world.broker.faults = {
      ...broker,
      claimAnswerLost: options.lostClaimAnswers ? broker.claimAnswerLost : 0,
      maxDelayMs: options.faults ? BASE_BROKER.maxDelayMs : 20,
      heartbeatsOvertake: options.heartbeatsOvertake,
      brokerClaims: options.brokerClaims,
      parallelStatus: options.parallelStatus,
    };
  };
  applyFaults(0);
  for (const task of scenario.tasks) await createTaskFromInput(world.api, task.input);
  for (const task of scenario.tasks) await observe(world, know, task);
  for (const d of scenario.dispatchers) world.startDispatcher(d);
  for (const w of scenario.workers) world.startWorker(w.name, w.pool, w.concurrency);
  applyFaults(1);
  const at = (ms: number, what: () => void) => world.time.schedule('world', ms, what);
  const restart = (name: string) => {
    const spec = scenario.workers.find((w) => w.name === name);
    if (spec && !world.workers.has(name)) world.startWorker(spec.name, spec.pool, spec.concurrency);
  };
  const api = (task: SimTask, label: string, call: () => Promise<unknown>) => {
    world.log(`api: ${label} ${task.name}`);
    call().then(
      () => observe(world, know, task),
      (error: Error) => {
        world.log(`api: ${label} ${task.name} failed: ${error.message}`);
        return observe(world, know, task);
      },
    );
  };
  for (const event of scenario.events) {
    at(event.at, () => {
      if (event.kind === 'crash-worker' || event.kind === 'stop-worker') {
        if (event.kind === 'crash-worker') world.crashWorker(event.worker);
        else world.stopWorker(event.worker);
        at(event.downMs, () => restart(event.worker));
      } else if (event.kind === 'crash-dispatcher' || event.kind === 'vanish-dispatcher') {
        if (event.kind === 'crash-dispatcher') world.crashDispatcher(event.dispatcher);
        // the broker notices a vanished host's connections within a few heartbeats; the long-stall family
        // lets that take longer than worker_timeout (which the config warns against: docs/reliability.md)
        else world.vanishDispatcher(event.dispatcher, options.longStalls ? world.prng.int(10_000, 60_000) : world.prng.int(2_000, 12_000));
        at(event.downMs, () => world.startDispatcher(event.dispatcher));
      } else if (event.kind === 'freeze-dispatcher') {
        world.freezeDispatcher(event.dispatcher, event.forMs);
      } else if (event.kind === 'freeze-worker') {
        // a worker with attempts under way, when there is one: an idle worker's freeze proves little
        const busy = [...world.workers.values()].filter((w) => [...world.live.keys()].some((k) => k.startsWith(`${w.owner}:`))).map((w) => w.name);
        world.freezeWorker(busy.length > 0 ? world.prng.pick(busy) : event.worker, event.forMs);
      } else if (event.kind === 'fault-burst') {
        world.log('faults x5');
        applyFaults(5);
        at(event.forMs, () => world.time.now < know.activeEndMs && applyFaults(1));
      } else if (event.kind === 'cancel-a-run') {
        void cancelSomeRun(world);
      } else {
        const task = scenario.tasks.find((t) => t.name === (event as { task: string }).task) as SimTask;
        if (event.kind === 'trigger') {
          api(task, 'trigger', async () => know.manualFires.add(`${task.name}@${Date.parse((await triggerTask(world.api, task.name)).scheduledTime)}`));
        }
        else if (event.kind === 'delete') api(task, 'delete', () => deleteTaskByRef(world.api, task.name));
        else if (event.kind === 'change-pool') {
          task.input = { ...task.input, pool: POOLS.find((p) => p !== task.input.pool) };
          api(task, 'change pool of', () => replaceTaskFromInput(world.api, task.name, task.input));
        } else if (event.kind === 'suspend') {
          api(task, 'suspend', () => replaceTaskFromInput(world.api, task.name, { ...task.input, suspend: true }));
          at(event.forMs, () => world.time.now < know.activeEndMs && api(task, 'resume', () => replaceTaskFromInput(world.api, task.name, { ...task.input, suspend: false })));
        }
      }
    });
  }
  const probeNow = (out: string[]) => probe(world.db.raw, know.manualFires, out);
  steps += await runUntil(world, START_MS + options.activeMs, probeNow, violations);
  // settle: no more faults, every process up, schedules suspended; everything must come to rest
  world.log('--- settling: faults off, every process up, schedules suspended ---');
  applyFaults(0);
  for (const d of scenario.dispatchers) world.startDispatcher(d);
  for (const w of scenario.workers) restart(w.name);
  for (const task of scenario.tasks.filter((t) => t.schedule && !know.deletedAt.has(t.name))) {
    api(task, 'suspend', () => replaceTaskFromInput(world.api, task.name, { ...task.input, suspend: true }));
  }
  // Settling ends once the world is at rest twice in a row, QUIET_STEP_MS apart, after MIN_SETTLE_MS (past
  // the longest freeze and hang, and past worker_timeout): at rest, nothing is left that could still act. It
  // runs at most settleMs while nothing is active, and beyond it, in steps, while runs are still active.
  const activeEnd = START_MS + options.activeMs;
  let settleEnd = activeEnd + Math.min(options.settleMs, MIN_SETTLE_MS);
  steps += await runUntil(world, settleEnd, probeNow, violations);
  let quietInARow = 0;
  while (settleEnd < activeEnd + MAX_SETTLE_MS) {
    steps += await sessionFree(world);
    const active = await activeRuns(db);
    quietInARow = active === 0 && atRest(world) ? quietInARow + 1 : 0;
    if (quietInARow >= 2 || (active === 0 && settleEnd >= activeEnd + options.settleMs)) break;
    settleEnd += QUIET_STEP_MS;
    steps += await runUntil(world, settleEnd, probeNow, violations);
  }
  world.log(`end: broker holds ${world.broker.waiting()} run messages and ${world.broker.undelivered()} status events; workers ${[...world.workers.values()].map((w) => `${w.owner} active ${w.worker.activeRuns}`).join(', ')}; claims under way: ${[...world.broker.pendingClaims].join(', ') || 'none'}; timers ${JSON.stringify(world.time.pendingByOwner())}; unfinished executions ${world.executions.filter((e) => e.endMs === undefined).map((e) => `${e.runId}/${e.attempt}@${e.workerOwner} from ${e.startMs - START_MS}`).join(" ")}`);
  steps += await sessionFree(world);
  violations.push(...(await finalChecks(world, db, know)));
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM hg_runs');
  return {
    seed,
    violations: [...new Set(violations)],
    trace: world.trace,
    stats: { runs: rows[0]?.n ?? 0, executions: world.executions.length, events: scenario.events.length, virtualMs: world.time.now - START_MS, steps },
  };
}

/** Advances virtual time to `endMs`, settling the real event loop before each timer; probes every second. */
async function runUntil(world: World, endMs: number, probeNow: (out: string[]) => Promise<void>, violations: string[]): Promise<number> {
  let lastProbe = world.time.now;
  let steps = 0;
  for (;;) {
    if (!(await settleWorld(world))) {
      violations.push('the world never went idle (a busy loop without timers)');
      return steps;
    }
    const next = world.time.peek();
    if (next === undefined || next > endMs) {
      world.log(`runUntil: next timer at ${next === undefined ? "none" : (next - world.time.now) + " ms from now"}`);
      world.time.now = Math.max(world.time.now, endMs);
      return steps;
    }
    world.time.step();
    steps++;
    if (world.time.now - lastProbe >= PROBE_EVERY_MS) {
      if (!(await settleWorld(world))) continue;
      // a transaction holds PGlite's one session until a timer of its own (a fire prepared ahead): probe after it
      if (world.db.sessionHeld) continue;
      lastProbe = world.time.now;
      const found: string[] = [];
      await probeNow(found);
      for (const v of found) world.log(`VIOLATION ${v}`);
      violations.push(...found);
    }
  }
}

/**
 * The driver's own statements go straight to PGlite, whose one session a transaction may hold until a timer of
 * its own fires (a fire prepared ahead): time moves on, timer by timer, until the session is free.
 */
async function sessionFree(world: World): Promise<number> {
  let steps = 0;
  const since = world.time.now;
  while ((await settleWorld(world)) && world.db.sessionHeld && world.time.peek() !== undefined) {
    if (world.time.now - since > SESSION_HELD_LIMIT_MS) {
      // no transaction of the core waits this long for a timer of its own (a prepared fire waits the lead):
      // one that does holds Postgres's locks for ever too, and the driver could only step on without end
      throw new WorldStuck(`a transaction held the database session for over ${SESSION_HELD_LIMIT_MS / 1000} s of virtual time`);
    }
    world.time.step();
    steps++;
  }
  return steps;
}

const SESSION_HELD_LIMIT_MS = 60_000;

/** the world cannot go on (its database session is held for good): the seed fails with this, at once */
class WorldStuck extends Error {}

/** the simulator's world at rest (settle.ts) */
function settleWorld(world: World): Promise<boolean> {
  return settle(() => `${world.db.ops}/${world.broker.ops}/${world.time.fired}/${world.trace.length}`, () => world.db.inflight);
}

/** The task's real state after an API call (which may have failed after committing): the windows follow it. */
async function observe(world: World, know: Knowledge, task: SimTask): Promise<void> {
  const { rows } = await world.db.raw.query<{ suspend: boolean | null; deleted: Date | null; pool: string }>(
    `SELECT (spec ->> 'suspend')::boolean AS suspend, deleted_at AS deleted, spec ->> 'pool' AS pool FROM hg_tasks WHERE name = $1 ORDER BY created_at DESC LIMIT 1`,
    [task.name],
  );
  const row = rows[0];
  if (!row) return;
  task.input = { ...task.input, pool: row.pool };
  if (row.deleted && !know.deletedAt.has(task.name)) know.deletedAt.set(task.name, new Date(row.deleted).getTime());
  const active = !row.deleted && row.suspend !== true && task.schedule !== undefined;
  const windows: Window[] = know.windows.get(task.name) ?? [];
  const open = windows[windows.length - 1];
  if (active && (!open || open.to !== undefined)) windows.push({ from: world.time.now });
  if (!active && open && open.to === undefined) open.to = world.time.now;
  know.windows.set(task.name, windows);
}

/** nothing in flight anywhere: broker, claims, executions, workers' outboxes, database round trips, frozen processes */
function atRest(world: World): boolean {
  return (
    world.broker.waiting() === 0 &&
    world.broker.undeliveredReports() === 0 &&
    world.broker.pendingClaims.size === 0 &&
    world.db.inflight === 0 &&
    !world.time.anyFrozen() &&
    world.executions.every((e) => e.endMs !== undefined) &&
    [...world.workers.values()].every((w) => w.worker.undeliveredEvents === 0)
  );
}

async function activeRuns(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE status IN ('pending', 'queued', 'running')`);
  return rows[0]?.n ?? 0;
}

async function cancelSomeRun(world: World): Promise<void> {
  const { rows } = await world.db.raw.query<{ id: string }>(`SELECT id::text AS id FROM hg_runs WHERE status = ANY($1::text[]) ORDER BY id`, [[...ACTIVE_STATUSES]]);
  const victim = rows.length > 0 ? rows[world.prng.int(0, rows.length - 1)] : undefined;
  if (!victim) return;
  world.log(`api: cancel run ${victim.id}`);
  await cancelRun(world.api, victim.id).catch((error: Error) => world.log(`api: cancel failed: ${error.message}`));
}

function scale<T extends object>(base: T, factor: number): T {
  return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, typeof v === 'number' ? Math.min(1, v * factor) : v])) as T;
}

/**
 * What the simulated processes cannot inject: the database host's clock (PGlite's now() reads Date.now),
 * Math.random (retry jitter) and randomUUID (task ids) follow the seed while it runs.
 */
function installDeterminism(world: World, seed: number): () => void {
  const saved = { now: Date.now, random: Math.random, uuid: crypto.randomUUID };
  const random = world.prng.fork(4);
  let n = 0;
  Date.now = () => world.time.now + world.dbSkewMs;
  Math.random = () => random.next();
  crypto.randomUUID = () => {
    const h = (x: number) => hash32(seed, n, x).toString(16).padStart(8, '0');
    n++;
    const hex = `${h(1)}${h(2)}${h(3)}${h(4)}`;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}` as ReturnType<typeof crypto.randomUUID>;
  };
  syncBuiltinESMExports();
  return () => {
    Date.now = saved.now;
    Math.random = saved.random;
    crypto.randomUUID = saved.uuid;
    syncBuiltinESMExports();
  };
}
