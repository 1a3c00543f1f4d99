import { existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { RETRYABLE_OUTCOMES } from '../../core/model/index.ts';
import { compileSchedule } from '../../core/schedule/index.ts';
import type { Suspension } from './faults.ts';
import { SUSPENSION_SLACK_MS } from './outcome-invariants.ts';

/**
 * What a chaos run must prove, read from Postgres (and the shell tasks' journal) once the system settled:
 * - duplicates: a (task, scheduled time, shard) with two first attempts; an attempt executed twice (a
 *   repeated journal line); an attempt beyond retry.limit + 1.
 * - lost: a schedule slot up to the cutoff with no run at all (missed and skipped runs count as recorded,
 *   which is what the catch-up policy allows); a trigger the API acknowledged (201) without its run; a
 *   failed attempt with retries left and no next attempt.
 * - stuck: a run not terminal after settling (pending, queued, running); an attempt that executed (in
 *   the journal) without a terminal outcome.
 */
export interface Violations {
  duplicates: number;
  lost: number;
  stuck: number;
  /** at most a few examples of each, for the report */
  examples: string[];
}

export interface CheckInput {
  sql: pg.Client;
  /** slots after this are not required (the dispatchers were told to stop firing then) */
  cutoff: Date;
  acknowledged: string[];
  journal: string;
  /** slots inside these windows need no run: the task was suspended */
  suspensions: Suspension[];
}

const EXAMPLES = 5;

export async function checkInvariants(input: CheckInput): Promise<Violations> {
  const { sql } = input;
  const v: Violations = { duplicates: 0, lost: 0, stuck: 0, examples: [] };
  const add = (kind: keyof Omit<Violations, 'examples'>, count: number, what: string, rows: unknown[]) => {
    if (count === 0) return;
    v[kind] += count;
    v.examples.push(`${kind}: ${count} ${what}: ${JSON.stringify(rows.slice(0, EXAMPLES))}`);
  };

  const { rows: twice } = await sql.query(
    `SELECT task_id, scheduled_time, shard, count(*)::int AS n FROM hg_runs WHERE attempt = 1 GROUP BY 1, 2, 3 HAVING count(*) > 1`,
  );
  add('duplicates', twice.length, 'slots with two first attempts', twice);

  const executed = readJournal(input.journal);
  const repeated = [...executed].filter(([, lines]) => lines.length > 1);
  add('duplicates', repeated.reduce((sum, [, lines]) => sum + lines.length - 1, 0), 'attempts executed more than once', repeated.map(([, lines]) => lines));

  const { rows: overLimit } = await sql.query(
    `SELECT r.id, r.task_id, r.attempt FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE r.attempt > COALESCE((t.spec -> 'retry' ->> 'limit')::int, 0) + 1`,
  );
  add('duplicates', overLimit.length, 'attempts beyond retry.limit + 1', overLimit);

  add('lost', ...(await lostSlots(sql, input.cutoff, input.suspensions)));

  const { rows: runIds } = await sql.query<{ id: string }>(`SELECT id::text AS id FROM hg_runs WHERE id = ANY($1::bigint[])`, [input.acknowledged]);
  const found = new Set(runIds.map((r) => r.id));
  const missingTriggers = input.acknowledged.filter((id) => !found.has(id));
  add('lost', missingTriggers.length, 'acknowledged triggers without a run', missingTriggers);

  const { rows: noRetry } = await sql.query(
    `SELECT r.id, r.task_id, r.scheduled_time, r.shard, r.attempt, r.status FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE r.status = ANY($1::text[]) AND r.attempt <= COALESCE((t.spec -> 'retry' ->> 'limit')::int, 0) AND t.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM hg_runs n WHERE n.task_id = r.task_id AND n.scheduled_time = r.scheduled_time
                                                  AND n.shard = r.shard AND n.attempt = r.attempt + 1)`,
    [[...RETRYABLE_OUTCOMES]],
  );
  add('lost', noRetry.length, 'failed attempts with retries left and no retry', noRetry);

  const { rows: active } = await sql.query(
    `SELECT id, task_id, attempt, status, worker_id, created_at, queued_at, started_at, not_before FROM hg_runs
      WHERE status IN ('pending', 'queued', 'running') ORDER BY id`,
  );
  add('stuck', active.length, 'runs not terminal after settling', active);

  const { rows: terminal } = await sql.query<{ key: string }>(
    `SELECT id::text || '/' || attempt::text AS key FROM hg_runs WHERE status NOT IN ('pending', 'queued', 'running')`,
  );
  const settled = new Set(terminal.map((r) => r.key));
  const withoutOutcome = [...executed.keys()].filter((key) => !settled.has(key));
  add('stuck', withoutOutcome.length, 'executed attempts without a terminal outcome', withoutOutcome);
  return v;
}

/** Each scheduled task's expected slots from its anchor to the cutoff, against the slots it recorded. */
async function lostSlots(sql: pg.Client, cutoff: Date, suspensions: Suspension[]): Promise<[number, string, unknown[]]> {
  const suspended = (taskId: string, t: number) =>
    suspensions.some((w) => w.taskId === taskId && t > w.from - SUSPENSION_SLACK_MS && t < w.to + SUSPENSION_SLACK_MS);
  const { rows: tasks } = await sql.query<{ id: string; schedule: string; tz: string; anchor: Date }>(
    `SELECT id::text AS id, spec ->> 'schedule' AS schedule, COALESCE(spec ->> 'timeZone', 'UTC') AS tz, schedule_anchor AS anchor
       FROM hg_tasks WHERE spec ? 'schedule' AND deleted_at IS NULL`,
  );
  const { rows: recorded } = await sql.query<{ task_id: string; at: string }>(
    `SELECT task_id::text AS task_id, (extract(epoch FROM scheduled_time) * 1000)::bigint::text AS at
       FROM hg_runs WHERE trigger = 'schedule' AND attempt = 1 AND scheduled_time <= $1`,
    [cutoff],
  );
  const seen = new Set(recorded.map((r) => `${r.task_id}@${r.at}`));
  const missing: string[] = [];
  let count = 0;
  for (const task of tasks) {
    const schedule = compileSchedule(task.schedule, task.tz);
    for (let t = schedule.next(task.anchor.getTime() - 1); t !== undefined && t <= cutoff.getTime(); t = schedule.next(t)) {
      if (seen.has(`${task.id}@${t}`) || suspended(task.id, t)) continue;
      count++;
      if (missing.length < EXAMPLES) missing.push(`${task.id}@${new Date(t).toISOString()}`);
    }
  }
  return [count, 'schedule slots without any run', missing];
}

/**
 * "runId/attempt" -> the journal lines of each time a shell task started it ("runId/attempt workerPid
 * time"), so that a repeated attempt shows which worker processes ran it and when.
 */
function readJournal(file: string): Map<string, string[]> {
  const starts = new Map<string, string[]>();
  if (!existsSync(file)) return starts;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const key = /^(\d+\/\d+)( |$)/.exec(line)?.[1];
    if (!key) continue;
    starts.set(key, [...(starts.get(key) ?? []), line]);
  }
  return starts;
}

/** Counts for the summary: slots fired by the schedule (including missed ones) and runs triggered by hand. */
export async function countFires(sql: pg.Client): Promise<{ fires: number; runs: number }> {
  const { rows } = await sql.query<{ fires: number; runs: number }>(
    `SELECT count(*) FILTER (WHERE trigger = 'schedule' AND attempt = 1)::int AS fires, count(*)::int AS runs FROM hg_runs`,
  );
  return rows[0] ?? { fires: 0, runs: 0 };
}
