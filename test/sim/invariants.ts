import type { Db } from '../../core/store/db.ts';
import { compileSchedule } from '../../core/schedule/index.ts';
import { partitionOf } from '../../core/dispatch/fire-partitions.ts';
import type { SimTask } from './scenario.ts';
import type { World } from './world.ts';

/** When a task was schedulable: [from, to) in true time, from what the API calls really did. */
export interface Window {
  from: number;
  to?: number;
}

export interface Knowledge {
  tasks: SimTask[];
  /** "name@ms" of every manual fire the API answered */
  manualFires: Set<string>;
  windows: Map<string, Window[]>;
  deletedAt: Map<string, number>;
  /** how long the world ran with faults, and when it settled */
  activeEndMs: number;
  maxSkewMs: number;
}

/** a slot needs this much dispatcher uptime before its window closed to be owed a record */
const FIRE_GRACE_MS = 35_000;
const EDGE_MS = 3_000;

/**
 * Checked every probe: Forbid never has two fires active, Replace never two running. Manual fires (and their
 * retries) stand outside the policy; they are known by a manual row or by the trigger's answer, since
 * retention may have deleted the manual attempt while its retry is still active.
 */
export async function probe(db: Db, manualFires: Set<string>, out: string[]): Promise<void> {
  const { rows } = await db.query<{ name: string; policy: string; at: Date; running: boolean; manual: boolean }>(
    `SELECT t.name, t.spec ->> 'concurrencyPolicy' AS policy, r.scheduled_time AS at, bool_or(r.status = 'running') AS running,
            EXISTS (SELECT 1 FROM hg_runs m WHERE m.task_id = r.task_id AND m.scheduled_time = r.scheduled_time AND m.trigger = 'manual') AS manual
       FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE r.status IN ('pending', 'queued', 'running') AND t.spec ->> 'concurrencyPolicy' <> 'Allow'
      GROUP BY t.name, t.spec ->> 'concurrencyPolicy', r.task_id, r.scheduled_time`,
  );
  const fires = new Map<string, { policy: string; active: number; running: number }>();
  for (const row of rows) {
    if (row.manual || manualFires.has(`${row.name}@${new Date(row.at).getTime()}`)) continue;
    const f = fires.get(row.name) ?? { policy: row.policy, active: 0, running: 0 };
    f.active++;
    if (row.running) f.running++;
    fires.set(row.name, f);
  }
  for (const [name, f] of fires) {
    if (f.policy === 'Forbid' && f.active > 1) out.push(`Forbid: ${name} has ${f.active} fires active at once`);
    if (f.policy === 'Replace' && f.running > 1) out.push(`Replace: ${name} has ${f.running} fires running at once`);
  }
}

interface RunRow {
  id: string;
  name: string;
  scheduled: number;
  shard: number;
  attempt: number;
  trigger: string;
  status: string;
  created: number;
  error: string | null;
}

/** The checks once the world has settled. */
export async function finalChecks(world: World, db: Db, know: Knowledge): Promise<string[]> {
  const out: string[] = [];
  const { rows: raw } = await db.query<{ id: string; name: string; scheduled_time: Date; shard: number; attempt: number; trigger: string; status: string; created_at: Date; error: string | null }>(
    `SELECT r.id::text AS id, t.name, r.scheduled_time, r.shard, r.attempt, r.trigger, r.status, r.created_at, r.error
       FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id ORDER BY r.id`,
  );
  const runs: RunRow[] = raw.map((r) => ({ ...r, scheduled: new Date(r.scheduled_time).getTime(), created: new Date(r.created_at).getTime() }));
  const byId = new Map(runs.map((r) => [`${r.id}/${r.attempt}`, r]));

  const { rows: held } = await db.query<{ id: string; attempt: number; worker_id: string | null; worker_status: string | null; started_at: Date | null; failed_by_core: boolean }>(
    `SELECT r.id::text AS id, r.attempt, r.worker_id, w.status AS worker_status, r.started_at, r.failed_by_core
       FROM hg_runs r LEFT JOIN hg_workers w ON w.id = r.worker_id WHERE r.status IN ('pending', 'queued', 'running')`,
  );
  for (const h of held) {
    const run = byId.get(`${h.id}/${h.attempt}`);
    const on = h.worker_id ? ` on ${h.worker_id} (${h.worker_status ?? 'no row'})${h.started_at ? `, started ${new Date(h.started_at).toISOString()}` : ''}` : '';
    out.push(`settled world still has run ${h.id}/${h.attempt} of ${run?.name ?? '?'} ${run?.status ?? '?'}${on}`);
  }

  const executed = new Map<string, number>();
  for (const e of world.executions) executed.set(`${e.runId}/${e.attempt}`, (executed.get(`${e.runId}/${e.attempt}`) ?? 0) + 1);
  for (const [key, n] of executed) if (n > 1) out.push(`attempt ${key} executed ${n} times`);
  // a withdrawn retry leaves no record, so it must never have run (where the broker decides claims, a row
  // that still says queued may already be a worker's)
  const { rows: withdrawn } = await db.query<{ key: string }>(`SELECT id::text || '/' || attempt::text AS key FROM sim_withdrawn`);
  for (const { key } of withdrawn) if (executed.has(key)) out.push(`attempt ${key} was executed, but the core withdrew it (deleted its row) as never started`);
  // a worker that reported a claim abandoned promised never to run it: the core failed it on that word
  for (const e of world.executions) {
    if (world.ledgers.get(e.workerOwner)?.isAbandoned(e.runId, e.attempt)) out.push(`${e.workerOwner} executed ${e.runId}/${e.attempt} after reporting its claim abandoned`);
  }

  for (const key of world.broker.acceptedSuccesses) {
    const run = byId.get(key);
    if (run && !['succeeded', 'cancelled'].includes(run.status)) out.push(`successful execution of ${key} (${run.name}) recorded as ${run.status}: ${run.error ?? ''}`);
  }

  // a run is cancelled by the core (the API, Replace, a deletion: each with a reason code) and only then by a
  // worker; a worker's own 'cancelled' on a live attempt is a cancel meant for another attempt
  const { rows: strayCancels } = await db.query<{ id: string; attempt: number }>(`SELECT id::text AS id, attempt FROM hg_runs WHERE status = 'cancelled' AND reason IS NULL`);
  for (const r of strayCancels) out.push(`attempt ${r.id}/${r.attempt} was cancelled by its worker without the core cancelling it`);

  const tasks = new Map(know.tasks.map((t) => [t.name, t]));
  const fires = new Map<string, RunRow[]>();
  for (const run of runs) {
    const key = `${run.name}@${run.scheduled}`;
    fires.set(key, [...(fires.get(key) ?? []), run]);
  }
  for (const [key, group] of fires) {
    const task = tasks.get(group[0]?.name ?? '');
    if (!task) continue;
    for (const run of group) {
      if (run.attempt > task.retryLimit + 1) out.push(`${key} shard ${run.shard} reached attempt ${run.attempt} with retry.limit ${task.retryLimit}`);
    }
  }

  const deletedMargin = 2 * know.maxSkewMs + 100;
  for (const run of runs) {
    const deleted = know.deletedAt.get(run.name);
    if (deleted !== undefined && run.created > deleted + deletedMargin && run.attempt === 1) {
      out.push(`run ${run.id} of ${run.name} (${run.trigger}, ${run.status}) was created ${run.created - deleted} ms after the task was deleted`);
    }
  }

  // every slot of a schedulable window has a record for every shard (run, missed, skipped), owed once the
  // task's fire partition was held long enough (each incarnation of the name: the one held least)
  const { rows: incarnations } = await db.query<{ id: string; name: string }>('SELECT id::text AS id, name FROM hg_tasks');
  const partitionsOf = new Map<string, number[]>();
  for (const row of incarnations) partitionsOf.set(row.name, [...(partitionsOf.get(row.name) ?? []), partitionOf(row.id)]);
  for (const task of know.tasks) {
    if (!task.schedule || task.pruned) continue;
    const schedule = compileSchedule(task.schedule, 'UTC');
    const have = new Set(runs.filter((r) => r.name === task.name && r.attempt === 1 && r.trigger === 'schedule').map((r) => `${r.scheduled}/${r.shard}`));
    for (const window of know.windows.get(task.name) ?? []) {
      const to = window.to ?? know.activeEndMs;
      for (let slot = schedule.next(window.from + EDGE_MS); slot !== undefined && slot <= to - EDGE_MS; slot = schedule.next(slot)) {
        if (Math.min(...(partitionsOf.get(task.name) ?? [0]).map((p) => uptime(world, p, slot, to))) < FIRE_GRACE_MS) continue;
        for (let shard = 0; shard < task.shards; shard++) {
          if (!have.has(`${slot}/${shard}`)) out.push(`slot ${new Date(slot).toISOString()} of ${task.name} shard ${shard} has no record (window ${new Date(window.from).toISOString()}..; ${holdersOf(world, partitionsOf.get(task.name) ?? [])})`);
        }
      }
    }
    // no scheduled fire runs from the inside of a long suspension (resume is not downtime)
    const windows = know.windows.get(task.name) ?? [];
    for (let i = 1; i < windows.length; i++) {
      const gapFrom = (windows[i - 1]?.to ?? 0) + 12_000;
      const gapTo = (windows[i]?.from ?? 0) - 12_000;
      for (const run of runs) {
        if (run.name === task.name && run.trigger === 'schedule' && run.status !== 'missed' && run.status !== 'skipped' && run.scheduled > gapFrom && run.scheduled < gapTo) {
          out.push(`${task.name} ran the slot ${new Date(run.scheduled).toISOString()} from inside its suspension`);
        }
      }
    }
  }

  // a dependant runs exactly once per upstream fire whose every shard succeeded
  for (const dependant of know.tasks.filter((t) => t.upstream)) {
    const upstream = tasks.get(dependant.upstream as string) as SimTask;
    const upFires = new Map<number, Map<number, RunRow>>();
    for (const run of runs) {
      if (run.name !== upstream.name || run.status === 'missed' || run.status === 'skipped') continue;
      const shards = upFires.get(run.scheduled) ?? new Map<number, RunRow>();
      const latest = shards.get(run.shard);
      if (!latest || latest.attempt < run.attempt) shards.set(run.shard, run);
      upFires.set(run.scheduled, shards);
    }
    for (const [at, shards] of upFires) {
      const ok = shards.size === upstream.shards && [...shards.values()].every((r) => r.status === 'succeeded');
      const made = runs.filter((r) => r.name === dependant.name && r.scheduled === at && r.attempt === 1 && r.shard === 0);
      if (ok && made.length !== 1) out.push(`dependant ${dependant.name} has ${made.length} runs for the fire ${new Date(at).toISOString()} of ${upstream.name}, whose every shard succeeded`);
      if (!ok && made.some((r) => r.trigger === 'dependency' && r.status !== 'skipped')) out.push(`dependant ${dependant.name} ran for the fire ${new Date(at).toISOString()} of ${upstream.name}, which did not succeed`);
    }
  }

  const { rows: guarded } = await db.query<{ what: string }>('SELECT what FROM sim_violations ORDER BY id');
  out.push(...guarded.map((g) => g.what));
  return out;
}

/** who held these fire partitions when, for a violation's message */
function holdersOf(world: World, partitions: number[]): string {
  const at = (ms: number | undefined) => (ms === undefined ? 'on' : `${((ms - world.startMs) / 1000).toFixed(1)}s`);
  return partitions
    .map((p) => `partition ${p}: ${world.partitionTerms.filter((t) => t.partition === p).map((t) => `${t.owner} ${at(t.start)}-${at(t.end)}`).join(', ') || 'never held'}`)
    .join('; ');
}

/** how long some dispatcher held the fire partition, and was not frozen, within [from, to) */
function uptime(world: World, partition: number, from: number, to: number): number {
  const pieces: Array<[number, number]> = [];
  for (const term of world.partitionTerms.filter((t) => t.partition === partition)) {
    let cuts: Array<[number, number]> = [[Math.max(from, term.start), Math.min(to, term.end ?? Infinity)]];
    for (const f of world.freezes.filter((z) => z.owner === term.owner)) {
      cuts = cuts.flatMap(([a, b]): Array<[number, number]> => [[a, Math.min(b, f.from)], [Math.max(a, f.to), b]]);
    }
    pieces.push(...cuts.filter(([a, b]) => b > a));
  }
  pieces.sort((x, y) => x[0] - y[0]);
  let total = 0;
  let reached = -Infinity;
  for (const [a, b] of pieces) {
    const start = Math.max(a, reached);
    if (b > start) total += b - start;
    reached = Math.max(reached, b);
  }
  return total;
}

export const GUARDS_SQL = `
CREATE TABLE IF NOT EXISTS sim_violations (id serial PRIMARY KEY, what text NOT NULL);
CREATE TABLE IF NOT EXISTS sim_withdrawn (id bigint NOT NULL, attempt int NOT NULL);
CREATE OR REPLACE FUNCTION sim_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  -- the one active run that may go: a retry not yet started whose attempt before it succeeded late
  -- (late-outcomes.ts withdraws it, so the task does not run twice); finalChecks holds that it never ran
  IF OLD.status IN ('pending', 'queued', 'running') AND NOT (OLD.status IN ('pending', 'queued') AND EXISTS (
       SELECT 1 FROM hg_runs p WHERE p.task_id = OLD.task_id AND p.scheduled_time = OLD.scheduled_time AND p.shard = OLD.shard
          AND p.attempt = OLD.attempt - 1 AND p.status = 'succeeded')) THEN
    INSERT INTO sim_violations (what) VALUES (format('run %s/%s deleted while it was %s', OLD.id, OLD.attempt, OLD.status));
  ELSIF OLD.status IN ('pending', 'queued') THEN
    INSERT INTO sim_withdrawn (id, attempt) VALUES (OLD.id, OLD.attempt);
  END IF;
  RETURN OLD;
END $$;
CREATE OR REPLACE FUNCTION sim_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  -- the one finished run that may change: an attempt the core failed on its worker's behalf (declared dead)
  -- whose success arrived after all (late-outcomes.ts): the record follows the truth
  IF OLD.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'missed', 'skipped') AND NEW.status <> OLD.status
     AND NOT (OLD.status = 'failed' AND OLD.failed_by_core AND NEW.status = 'succeeded') THEN
    INSERT INTO sim_violations (what) VALUES (format('run %s/%s went from %s to %s', OLD.id, OLD.attempt, OLD.status, NEW.status));
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER sim_guard_delete BEFORE DELETE ON hg_runs FOR EACH ROW EXECUTE FUNCTION sim_guard_delete();
CREATE TRIGGER sim_guard_update BEFORE UPDATE ON hg_runs FOR EACH ROW EXECUTE FUNCTION sim_guard_update();
`;
