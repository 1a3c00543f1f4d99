import type { RunStatus } from '../model/index.ts';
import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';

/** Why a late outcome is reconciled, and how: core/dispatch/late-outcomes.ts. */

/** An attempt as a statement that settles it returns it (core/dispatch/outcomes.ts calls it FinishedRow). */
export interface SettledAttemptRow {
  id: string;
  task_id: string;
  scheduled_time: Date | string;
  shard: number;
  attempt: number;
  status: RunStatus;
}

/**
 * Records late outcomes of attempts the core had failed (failed_by_core), as they really ended, while the
 * same worker (or none) holds them. `columns`: the outcomes as outcomeColumns (core/dispatch/outcomes.ts)
 * lays them out: run ids, attempts, statuses, times, worker ids, exit codes, HTTP statuses, errors, outputs.
 */
export async function recordLateSuccesses(tx: Queryable, columns: unknown[][]): Promise<SettledAttemptRow[]> {
  const { rows } = await tx.query<SettledAttemptRow>(
    `UPDATE hg_runs r SET status = u.status, finished_at = GREATEST(u.at, r.started_at), exit_code = u.exit_code, http_status = u.http_status,
              error = u.error, output = u.output, failed_by_core = false
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::int[], $7::int[], $8::text[], $9::text[])
              AS u(id, attempt, status, at, worker_id, exit_code, http_status, error, output)
        WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND r.failed_by_core AND ${statusAmong('r', ['failed'])}
          AND (r.worker_id IS NULL OR r.worker_id = u.worker_id)
        RETURNING r.id::text AS id, r.task_id::text AS task_id, r.scheduled_time, r.shard, r.attempt, r.status`,
    columns,
  );
  return rows;
}

export interface NextAttemptRow {
  id: string;
  task_id: string;
  attempt: number;
  status: string;
  scheduled_time: Date | string;
  shard: number;
}

/** The next attempts (attempt + 1) of these attempts' fires, locked in id order. */
export async function lockNextAttempts(tx: Queryable, rows: SettledAttemptRow[]): Promise<NextAttemptRow[]> {
  const { rows: next } = await tx.query<NextAttemptRow>(
    `SELECT n.id::text AS id, n.task_id::text AS task_id, n.attempt, n.status, n.scheduled_time, n.shard FROM hg_runs n
       JOIN unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[]) AS u(task_id, scheduled_time, shard, attempt)
         ON n.task_id = u.task_id AND n.scheduled_time = u.scheduled_time AND n.shard = u.shard AND n.attempt = u.attempt + 1
      ORDER BY n.id FOR UPDATE OF n`,
    [rows.map((r) => r.task_id), rows.map((r) => new Date(r.scheduled_time).toISOString()), rows.map((r) => r.shard), rows.map((r) => r.attempt)],
  );
  return next;
}

/** Deletes those of these runs still pending or queued (retries that never ran); returns them. */
export async function deleteWaitingRuns(tx: Queryable, runIds: string[]): Promise<Array<{ id: string; task_id: string; attempt: number }>> {
  const { rows } = await tx.query<{ id: string; task_id: string; attempt: number }>(
    `DELETE FROM hg_runs r WHERE id = ANY($1::bigint[]) AND ${statusAmong('r', ['pending', 'queued'])} RETURNING id::text AS id, task_id::text AS task_id, attempt`,
    [runIds],
  );
  return rows;
}
