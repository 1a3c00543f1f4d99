import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { TASK_CHANGED_CHANNEL } from '../../core/store/tasks.ts';
import { createTestDatabase, uniqueNamespace } from '../support/services.ts';
import { tempDir, type Backend } from '../support/processes.ts';
import { ALL_FAULTS, inject, seeded, shuffled, type FaultCounts } from './faults.ts';
import { checkInvariants, countFires, type Violations } from './invariants.ts';
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
  /** from the end of the last fault until every slot is fired on time and no run waits */
  recoverySeconds: number;
}

export interface ChaosReport {
  result: BackendResult;
  violations: Violations;
  /** processes that exited on their own (they were restarted, but each is a bug) */
  crashes: Crash[];
  faults: string[];
  /** process output, when something was found */
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
  const journal = path.join(tmp.dir, 'journal');
  try {
    await topo.start().catch((error: Error) => {
      throw new Error(`${options.backend}: the topology did not start: ${error.message}\n${topo.output()}`);
    });
    log(`${options.backend}: ${options.dispatchers} dispatchers, ${options.workers} workers, api up; creating ${options.tasks} tasks`);
    const load = await createLoad(topo.client, { tasks: options.tasks, triggersPerSecond: options.triggersPerSecond, journal });
    triggers.start(topo.client, [...load.onDemand, ...load.scheduled.slice(0, 3)], options.triggersPerSecond);
    await sleep(WARM_UP_MS);

    const counts: FaultCounts = { kills: 0, cuts: 0, log: [] };
    const kinds = ALL_FAULTS.filter((k) => options.backend !== 'postgres' || !k.endsWith('broker'));
    const end = Date.now() + options.durationSeconds * 1000;
    let lastFaultEnd = Date.now();
    for (let round = 0; Date.now() < end; round++) {
      for (const kind of shuffled(kinds, random)) {
        if (Date.now() >= end) break;
        if (await inject(kind, topo, counts, { holdMs: () => 2000 + Math.floor(random() * 3000) }, random)) {
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
    const violations = await checkInvariants({ sql, cutoff: new Date(cutoff.getTime() - 2000), acknowledged: triggers.acknowledged, journal });
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
      recoverySeconds,
    };
    const found = violations.duplicates + violations.lost + violations.stuck + topo.crashes.length > 0;
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

/** Suspends every task (as `scheduler-cli suspend` would); returns the database time it happened. */
async function suspendAll(sql: pg.Client): Promise<Date> {
  const { rows } = await sql.query<{ id: string; at: Date }>(
    `UPDATE hg_tasks SET spec = jsonb_set(spec, '{suspend}', 'true'), updated_at = now(), generation = generation + 1
      WHERE deleted_at IS NULL RETURNING id::text AS id, now() AS at`,
  );
  for (const { id } of rows) await sql.query('SELECT pg_notify($1, $2)', [TASK_CHANGED_CHANNEL, id]);
  return rows[0]?.at ?? new Date();
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
