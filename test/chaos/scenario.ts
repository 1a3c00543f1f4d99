import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { TASK_CHANGED_CHANNEL } from '../../core/store/tasks.ts';
import { createTestDatabase, uniqueNamespace } from '../support/services.ts';
import { tempDir, type Backend } from '../support/processes.ts';
import { ALL_FAULTS, inject, SCENARIO_FAULTS, seeded, shuffled, type FaultCounts, type FaultKind } from './faults.ts';
import { checkInvariants, countFires, type Violations } from './invariants.ts';
import { checkOutcomes } from './outcome-invariants.ts';
import { createLoad, TriggerStream } from './load.ts';
import { Topology, type Crash } from './topology.ts';

export interface ChaosOptions {
  backend: Backend;
  /** seconds of faults (the run also spends a warm-up and a settle phase) */
  durationSeconds: number;
  tasks: number;
  triggersPerSecond: number;
  dispatchers: number;
  workers: number;
  seed: number;
  /** how long a vanished leader host stays away (issue 12 asks for more than a minute in the long form) */
  vanishSeconds: number;
  /** progress lines (stderr in the CLI, diagnostics in the test) */
  log?: (line: string) => void;
}

export interface BackendResult {
  name: Backend;
  fires: number;
  triggers: number;
  kills: number;
  cuts: number;
  duplicates: number;
  lost: number;
  stuck: number;
  /** successful executions recorded as failed (and retried) although their worker was never killed */
  unexpectedRetries: number;
  /** upstream fires whose every shard succeeded without their dependant's run */
  dependantsLost: number;
  /** runs executed for slots while their task was suspended */
  firedWhileSuspended: number;
  /** from the end of the last fault until every slot is fired on time and no run waits */
  recoverySeconds: number;
  /** the slowest takeover after a leader's host vanished: until another dispatcher fired (null: none vanished) */
  leaderRecoverySeconds: number | null;
}

export interface ChaosReport {
  result: BackendResult;
  violations: Violations;
  /** processes that exited on their own (they were restarted, but each is a bug) */
  crashes: Crash[];
  faults: string[];
  /** process output, when something was found (always with CHAOS_DUMP=1) */
  output?: string;
}

const WARM_UP_MS = 8000;
const GAP_MS = 1500;
const SETTLE_LIMIT_MS = 60_000;
const DRAIN_LIMIT_MS = 60_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One backend under chaos, start to finish, on a fresh database; everything it started is stopped. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const random = seeded(options.seed);
  const db = await createTestDatabase();
  const tmp = tempDir('hg-chaos-');
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const topo = new Topology({
    backend: options.backend,
    databaseUrl: db.url,
    dir: tmp.dir,
    namespace: uniqueNamespace('chaos'),
    dispatchers: options.dispatchers,
    workers: options.workers,
    workerConcurrency: 25,
  });
  const triggers = new TriggerStream();
  // Shell tasks run isolated as an unprivileged uid (docs/task-isolation.md): the journal they append to
  // must be reachable and writable by that uid, unlike the rest of the 0700 scratch directory.
  const journalDir = path.join(tmp.dir, 'shared');
  mkdirSync(journalDir);
  chmodSync(tmp.dir, 0o711);
  chmodSync(journalDir, 0o777);
  const journal = path.join(journalDir, 'journal');
  writeFileSync(journal, '', { mode: 0o666 });
  chmodSync(journal, 0o666);
  try {
    await topo.start().catch((error: Error) => {
      throw new Error(`${options.backend}: the topology did not start: ${error.message}\n${topo.output()}`);
    });
    log(`${options.backend}: ${options.dispatchers} dispatchers, ${options.workers} workers, api up; creating ${options.tasks} tasks`);
    const load = await createLoad(topo.client, { tasks: options.tasks, triggersPerSecond: options.triggersPerSecond, journal });
    triggers.start(topo.client, [...load.onDemand, ...load.scheduled.slice(0, 3)], options.triggersPerSecond);
    await sleep(WARM_UP_MS);

    const counts: FaultCounts = { kills: 0, cuts: 0, log: [], killedWorkers: new Set(), suspensions: [], leaderRecoveriesMs: [] };
    const kinds = ALL_FAULTS.filter((k) => options.backend !== 'postgres' || !k.endsWith('broker'));
    const timing = { holdMs: () => 2000 + Math.floor(random() * 3000), vanishMs: options.vanishSeconds * 1000 };
    const world = { sql, movable: load.movable };
    const end = Date.now() + options.durationSeconds * 1000;
    let lastFaultEnd = Date.now();
    for (let round = 0; Date.now() < end; round++) {
      // the first round alternates the faults of issue 12 §4 with the others, so that even the short CI
      // form has each of the former and some of the latter
      // (a vanished leader host first: its recovery time is one of the run's results)
      const scenario: FaultKind[] = ['vanish-leader-host', ...shuffled(SCENARIO_FAULTS.filter((k) => k !== 'vanish-leader-host'), random)];
      const order: FaultKind[] = round === 0 ? interleaved(scenario, cutFirst(shuffled(kinds.filter((k) => !SCENARIO_FAULTS.includes(k)), random))) : shuffled(kinds, random);
      for (const kind of order) {
        if (Date.now() >= end) break;
        if (await inject(kind, topo, counts, timing, random, world)) {
          log(`${options.backend}: ${counts.log.at(-1) ?? kind}`);
        }
        lastFaultEnd = Date.now();
        await sleep(GAP_MS);
      }
    }

    await topo.restarted();
    const recoveredAt = await waitRecovered(sql, lastFaultEnd);
    const recoverySeconds = Math.round((recoveredAt - lastFaultEnd) / 100) / 10;
    log(`${options.backend}: recovered ${recoverySeconds}s after the last fault; stopping the load`);
    await triggers.stop();
    const cutoff = await suspendAll(sql);
    await waitDrained(sql);
    const violations = await checkInvariants({ sql, cutoff: new Date(cutoff.getTime() - 2000), acknowledged: triggers.acknowledged, journal, suspensions: counts.suspensions });
    const outcomes = await checkOutcomes({ sql, journal, killedWorkers: counts.killedWorkers, dependants: load.dependants, suspensions: counts.suspensions });
    violations.lost += outcomes.abandoned;
    violations.examples.push(...outcomes.examples);
    const { fires } = await countFires(sql);
    const result: BackendResult = {
      name: options.backend,
      fires,
      triggers: triggers.acknowledged.length,
      kills: counts.kills,
      cuts: counts.cuts,
      duplicates: violations.duplicates,
      lost: violations.lost,
      stuck: violations.stuck,
      unexpectedRetries: outcomes.unexpectedRetries,
      dependantsLost: outcomes.dependantsLost,
      firedWhileSuspended: outcomes.firedWhileSuspended,
      recoverySeconds,
      leaderRecoverySeconds: counts.leaderRecoveriesMs.length > 0 ? Math.max(...counts.leaderRecoveriesMs) / 1000 : null,
    };
    // CHAOS_DUMP=1 keeps the output of a clean run too: a slow recovery is evidence worth reading
    const found = violations.examples.length + topo.crashes.length > 0 || process.env.CHAOS_DUMP === '1';
    return { result, violations, crashes: topo.crashes, faults: counts.log, ...(found ? { output: topo.output() } : {}) };
  } finally {
    await triggers.stop();
    await topo.stopAll();
    await sql.end().catch(() => {});
    await db.drop().catch(() => {});
    rmSync(tmp.dir, { recursive: true, force: true });
  }
}

/**
 * A connection cut or stall, then a kill, first among the other faults: the short form then has two cuts
 * (with the vanished leader host) and a kill even when a long rolling drain comes early (seed 1945709137
 * had one cut in 60 s and failed the 'under fire' check).
 */
function cutFirst(kinds: FaultKind[]): FaultKind[] {
  const pick = (rest: FaultKind[], match: (k: FaultKind) => boolean): FaultKind[] => {
    const i = rest.findIndex(match);
    return i < 0 ? rest : [rest[i] as FaultKind, ...rest.slice(0, i), ...rest.slice(i + 1)];
  };
  const cutAhead = pick(kinds, (k) => k.startsWith('cut-') || k.startsWith('stall-'));
  const [cut, ...rest] = cutAhead;
  return cut === undefined ? cutAhead : [cut, ...pick(rest, (k) => k.startsWith('kill-') || k.startsWith('term-'))];
}

function interleaved<T>(first: T[], second: T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) out.push(...first.slice(i, i + 1), ...second.slice(i, i + 1));
  return out;
}

/**
 * Recovered: every task's latest slot is at most 2 s old (the leader fires on time again) and no run has
 * waited in pending or queued more than 10 s (apart from retries in their backoff).
 */
async function waitRecovered(sql: pg.Client, since: number): Promise<number> {
  const deadline = since + SETTLE_LIMIT_MS;
  while (Date.now() < deadline) {
    const { rows } = await sql.query<{ late: number; waiting: number }>(
      `SELECT (SELECT count(*) FROM hg_tasks WHERE spec ? 'schedule' AND deleted_at IS NULL
                 AND (last_scheduled_time IS NULL OR last_scheduled_time < now() - interval '2 seconds'))::int AS late,
              (SELECT count(*) FROM hg_runs WHERE status IN ('pending', 'queued')
                 AND COALESCE(not_before, created_at) < now() - interval '10 seconds')::int AS waiting`,
    );
    if (rows[0]?.late === 0 && rows[0]?.waiting === 0) return Date.now();
    await sleep(250);
  }
  return Date.now();
}

/**
 * Suspends every scheduled task, one statement each (as `scheduler-cli suspend` would, one task at a time);
 * returns the database time of the first. On-demand tasks stay as they are: dependants of the fires still
 * finishing must still be made. One UPDATE of every task locked them in storage order while the system's
 * transactions lock tasks in id order, and Postgres broke the deadlock by failing this statement (seed
 * 1842338309): a deadlock of the harness, not of the system.
 */
async function suspendAll(sql: pg.Client): Promise<Date> {
  const { rows: tasks } = await sql.query<{ id: string }>(`SELECT id::text AS id FROM hg_tasks WHERE deleted_at IS NULL AND spec ? 'schedule' ORDER BY id`);
  let first: Date | undefined;
  for (const { id } of tasks) {
    const { rows } = await sql.query<{ at: Date }>(
      `UPDATE hg_tasks SET spec = jsonb_set(spec, '{suspend}', 'true'), updated_at = now(), generation = generation + 1
        WHERE id = $1 AND deleted_at IS NULL RETURNING now() AS at`,
      [id],
    );
    first ??= rows[0]?.at;
    await sql.query('SELECT pg_notify($1, $2)', [TASK_CHANGED_CHANNEL, id]);
  }
  return first ?? new Date();
}

/** Until no run is pending, queued or running (retries included), or the limit passed. */
async function waitDrained(sql: pg.Client): Promise<void> {
  const deadline = Date.now() + DRAIN_LIMIT_MS;
  while (Date.now() < deadline) {
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE status IN ('pending', 'queued', 'running')`);
    if (rows[0]?.n === 0) return;
    await sleep(500);
  }
}
