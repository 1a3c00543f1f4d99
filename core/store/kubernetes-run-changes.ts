import type { Queryable } from './db.ts';
import { toDate, toRunSummary, type RunSummary, type RunSummaryRow } from './run-summary.ts';

export interface RunChange extends RunSummary {
  namespace: string;
  name: string;
  /** created within the window (neither created nor finished: it started running) */
  created: boolean;
  /** finished within the window (a run may be both created and finished in one) */
  finished: boolean;
  error: string | null;
  /** why a skipped or missed run did not run, as a code, when the database records one (hg_runs.reason) */
  reason: string | null;
}

export interface RunChangeCursor {
  afterId: string;
  upTo: Date;
}

/**
 * Runs of kubernetes tasks created, started or finished since the cursor, so the operator can refresh
 * statuses and emit events as runs happen, without scanning: new runs by primary key, finished ones by
 * hg_runs_finished, started ones among the few running (hg_runs_active).
 * The window ends `lagMs` before the database's now, so a transaction committing a little late is still
 * seen by the next poll. The first call (no cursor) only returns the cursor: history is not replayed.
 */
export async function kubernetesRunChanges(db: Queryable, cursor: RunChangeCursor | undefined, lagMs = 1000, limit = 2000): Promise<{ changes: RunChange[]; cursor: RunChangeCursor }> {
  const { rows: clock } = await db.query<{ up_to: unknown; max_id: string | null }>(
    `SELECT now() - make_interval(secs => $1::double precision / 1000) AS up_to, (SELECT max(id)::text FROM hg_runs) AS max_id`,
    [lagMs],
  );
  const upTo = toDate(clock[0]?.up_to) as Date;
  if (!cursor) return { changes: [], cursor: { afterId: clock[0]?.max_id ?? '0', upTo } };
  // the reason code column arrives with its own migration: read through to_jsonb so this query works either way
  const { rows } = await db.query<RunSummaryRow & { namespace: string; name: string; created: boolean; finished: boolean; error: string | null; reason: string | null }>(
    `SELECT r.id::text AS id, r.status, r.trigger, r.scheduled_time, r.finished_at, r.error, to_jsonb(r) ->> 'reason' AS reason, t.namespace, t.name,
            (r.id > $1::bigint AND r.created_at < $3) AS created,
            coalesce(r.finished_at >= $2 AND r.finished_at < $3, false) AS finished
       FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id
      WHERE t.source = 'kubernetes'
        AND ((r.id > $1::bigint AND r.created_at < $3) OR (r.finished_at >= $2 AND r.finished_at < $3)
             OR (r.status = 'running' AND r.started_at >= $2 AND r.started_at < $3))
      ORDER BY r.id LIMIT $4`,
    [cursor.afterId, cursor.upTo.toISOString(), upTo.toISOString(), limit],
  );
  let afterId = BigInt(cursor.afterId);
  for (const row of rows) if (row.created && BigInt(row.id) > afterId) afterId = BigInt(row.id);
  const changes = rows.map((row) => ({ ...toRunSummary(row), namespace: row.namespace, name: row.name, created: row.created, finished: row.finished, error: row.error, reason: row.reason }));
  // a full page means more may be waiting: keep the time window where it was and continue by id
  return { changes, cursor: { afterId: afterId.toString(), upTo: rows.length >= limit ? cursor.upTo : upTo } };
}
