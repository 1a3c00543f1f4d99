import type { Db, Queryable } from './db.ts';

/**
 * What a dispatcher keeps of a scheduled task: the schedule and the few fields that planning reads, not the
 * spec. With 100,000 tasks the whole task (spec, labels) per entry cost ~2.5 KB each; the task is read in
 * full, under its lock, only by the write that fires it (lockTasksForShare).
 */
export interface ScheduleState {
  id: string;
  schedule: string | null;
  timeZone: string | undefined;
  suspend: boolean;
  catchUp: 'None' | 'Latest' | 'All';
  maxCatchUp: number;
  startingDeadlineSeconds: number | undefined;
  jitterSeconds: number;
  shards: number;
  lastScheduledMs: number | null;
  /** when the current schedule took effect; planning never looks before it */
  anchorMs: number;
  deleted: boolean;
  /**
   * concurrencyPolicy Allow and no dependsOn: a fire decides nothing from other runs' state, so its write can
   * be prepared before its time and committed at it (the dispatcher's fire lead)
   */
  preparable: boolean;
}

/** The initial load reads this many tasks per page: its memory stays flat however many tasks there are. */
export const SCHEDULE_PAGE = 5000;

const COLUMNS = `id::text AS id, spec ->> 'schedule' AS schedule, spec ->> 'timeZone' AS time_zone,
  COALESCE((spec ->> 'suspend')::boolean, false) AS suspend, spec ->> 'catchUp' AS catch_up,
  (spec ->> 'maxCatchUp')::int AS max_catch_up, (spec ->> 'startingDeadlineSeconds')::int AS deadline,
  COALESCE((spec ->> 'jitterSeconds')::float8, 0) AS jitter, COALESCE((spec ->> 'shards')::int, 1) AS shards,
  floor(extract(epoch FROM last_scheduled_time) * 1000)::float8 AS last_ms, floor(extract(epoch FROM schedule_anchor) * 1000)::float8 AS anchor_ms,
  deleted_at IS NOT NULL AS deleted,
  spec ->> 'concurrencyPolicy' = 'Allow' AND COALESCE(spec -> 'dependsOn', '[]'::jsonb) = '[]'::jsonb AS preparable`;

interface Row {
  id: string;
  schedule: string | null;
  time_zone: string | null;
  suspend: boolean;
  catch_up: ScheduleState['catchUp'] | null;
  max_catch_up: number | null;
  deadline: number | null;
  jitter: number;
  shards: number;
  last_ms: number | null;
  anchor_ms: number;
  deleted: boolean;
  preparable: boolean | null;
}

function toState(row: Row): ScheduleState {
  return {
    id: row.id,
    schedule: row.schedule,
    timeZone: row.time_zone ?? undefined,
    suspend: row.suspend,
    // the spec was validated on write, so these are set; the fallbacks are the schema's defaults
    catchUp: row.catch_up ?? 'Latest',
    maxCatchUp: row.max_catch_up ?? 100,
    startingDeadlineSeconds: row.deadline ?? undefined,
    jitterSeconds: Number(row.jitter),
    shards: row.shards,
    lastScheduledMs: row.last_ms === null ? null : Number(row.last_ms),
    anchorMs: Number(row.anchor_ms),
    deleted: row.deleted,
    // a spec written without the policy (none is: it is validated on write) is left to fire at its time
    preparable: row.preparable === true,
  };
}

/**
 * Reads the scheduled tasks page by page through a cursor (one plan, one pass over the table; keyset pages
 * re-planned on a table without statistics read it whole for every page) and hands each page to `onPage`
 * before the next is read, so the load holds one page at a time. Live tasks with a schedule (with `partitions`,
 * those of these fire partitions only), or with `changedSince` every task updated since then, deleted and
 * unscheduled ones included (they leave the heap).
 */
export async function forEachSchedulePage(
  db: Db,
  onPage: (page: ScheduleState[]) => void,
  options: { changedSince?: Date; pageSize?: number; partitions?: number[] } = {},
): Promise<void> {
  const pageSize = options.pageSize ?? SCHEDULE_PAGE;
  await db.transaction(async (tx) => {
    if (options.changedSince) {
      await tx.query(`DECLARE hg_schedules NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM hg_tasks WHERE updated_at >= $1`, [options.changedSince]);
    } else if (options.partitions) {
      // the fire partitions a dispatcher gained: their tasks only (migration 0012's index)
      await tx.query(
        `DECLARE hg_schedules NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM hg_tasks
          WHERE deleted_at IS NULL AND spec ? 'schedule' AND fire_partition = ANY($1::smallint[])`,
        [options.partitions],
      );
    } else {
      await tx.query(`DECLARE hg_schedules NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM hg_tasks WHERE deleted_at IS NULL AND spec ? 'schedule'`);
    }
    for (;;) {
      const { rows } = await tx.query<Row>(`FETCH ${Math.max(1, Math.floor(pageSize))} FROM hg_schedules`);
      if (rows.length > 0) onPage(rows.map(toState));
      if (rows.length < pageSize) break;
    }
    await tx.query('CLOSE hg_schedules');
  });
}

/** The states of these tasks, deleted ones included, in one query. */
export async function loadSchedulesById(db: Queryable, ids: string[]): Promise<ScheduleState[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM hg_tasks WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map(toState);
}
