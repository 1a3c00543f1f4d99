import { inChunks } from './bulk-chunks.ts';
import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';
import { toDate, toRunSummary, type RunSummary, type RunSummaryRow } from './run-summary.ts';

export interface TaskRunState {
  /** the latest schedule slot turned into runs (missed and skipped slots included) */
  lastScheduledTime: Date | null;
  lastSuccessfulTime: Date | null;
  /** unfinished runs, oldest first, at most `activeLimit` */
  active: RunSummary[];
  lastFinished: RunSummary | null;
}

/**
 * Each part reaches the task's own runs on hg_runs_task (or hg_runs_active), never a walk of the whole
 * history. As `max(finished_at)` and `ORDER BY finished_at DESC LIMIT 1` over hg_runs, the planner walked
 * hg_runs_finished backwards from the newest run of any task until it met one of this task's: for a task
 * that last finished long ago, every run finished since (1,000,000 runs: 270 ms a task; the operator
 * reads this for every status it writes). OFFSET 0 keeps each subquery apart, so that neither the min/max
 * shortcut nor the outer ORDER BY can pick that index; the status test is written NOT IN (status-test.ts).
 */
const RUN_STATE_COLUMNS = `t.last_scheduled_time AS last_scheduled,
            (SELECT max(s.finished_at) FROM (
               SELECT r.finished_at FROM hg_runs r WHERE r.task_id = t.id AND ${statusAmong('r', ['succeeded'])} OFFSET 0) s) AS last_success,
            (SELECT coalesce(json_agg(a ORDER BY a.id), '[]') FROM (
               SELECT r.id::text AS id, r.status, r.trigger, r.scheduled_time, r.finished_at FROM hg_runs r
                WHERE r.task_id = t.id AND r.status IN ('pending', 'queued', 'running') ORDER BY r.id LIMIT $2) a) AS active,
            (SELECT row_to_json(f) FROM (
               SELECT e.id::text AS id, e.status, e.trigger, e.scheduled_time, e.finished_at FROM (
                 SELECT r.id, r.status, r.trigger, r.scheduled_time, r.finished_at FROM hg_runs r WHERE r.task_id = t.id AND r.finished_at IS NOT NULL OFFSET 0) e
                ORDER BY e.finished_at DESC, e.id DESC LIMIT 1) f) AS last_finished`;

interface RunStateRow {
  id: string;
  last_scheduled: unknown;
  last_success: unknown;
  active: unknown;
  last_finished: unknown;
}

const NO_RUNS: TaskRunState = { lastScheduledTime: null, lastSuccessfulTime: null, active: [], lastFinished: null };

/** The few facts a ScheduledTask's status shows, in one round trip (each part uses an index). */
export async function taskRunState(db: Queryable, taskId: string, activeLimit = 20): Promise<TaskRunState> {
  const { rows } = await db.query<RunStateRow>(`SELECT t.id::text AS id, ${RUN_STATE_COLUMNS} FROM hg_tasks t WHERE t.id = $1`, [taskId, activeLimit]);
  const row = rows[0];
  return row ? toRunState(row) : { ...NO_RUNS, active: [] };
}

/** taskRunState of many tasks, one round trip per chunk (an initial sync). Unknown ids are absent. */
export async function taskRunStates(db: Queryable, taskIds: string[], activeLimit = 20): Promise<Map<string, TaskRunState>> {
  const states = new Map<string, TaskRunState>();
  for (const chunk of inChunks(taskIds)) {
    const { rows } = await db.query<RunStateRow>(`SELECT t.id::text AS id, ${RUN_STATE_COLUMNS} FROM hg_tasks t WHERE t.id = ANY($1::uuid[])`, [chunk, activeLimit]);
    for (const row of rows) states.set(row.id, toRunState(row));
  }
  return states;
}

function toRunState(row: RunStateRow): TaskRunState {
  const parse = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value) as RunSummaryRow;
  const active = parse(row.active) as unknown as RunSummaryRow[];
  return {
    lastScheduledTime: toDate(row.last_scheduled),
    lastSuccessfulTime: toDate(row.last_success),
    active: active.map(toRunSummary),
    lastFinished: row.last_finished ? toRunSummary(parse(row.last_finished)) : null,
  };
}
