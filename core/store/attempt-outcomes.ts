import type { Queryable } from './db.ts';
import type { SettledAttemptRow } from './late-outcomes.ts';
import { ACTIVE, statusAmong } from './status-test.ts';

/**
 * Records the outcomes of attempts still active (pending, queued or running), and, where an outcome names
 * the worker it expects, only while that worker holds the attempt (the core's own decisions race with
 * claims); returns the attempts it settled. An attempt already terminal is left as it is, so a replayed
 * outcome changes nothing. Never finished before it started or was queued; the start, when unknown till
 * now, is the one reported with the outcome, else the outcome's time.
 *
 * `columns`: the outcomes as outcomeColumns (core/dispatch/outcomes.ts) lays them out (run ids, attempts,
 * statuses, times, worker ids, exit codes, HTTP statuses, errors, outputs), then start times, whether the
 * core fails the attempt on its worker's behalf (by_core), and the worker expected to hold each.
 * The caller holds the rows' locks, taken in id order (lockRunsInIdOrder).
 */
export async function settleAttempts(tx: Queryable, columns: unknown[][]): Promise<SettledAttemptRow[]> {
  const { rows } = await tx.query<SettledAttemptRow>(
    `UPDATE hg_runs r SET status = u.status, finished_at = GREATEST(u.at, r.started_at, r.queued_at),
              started_at = COALESCE(r.started_at, GREATEST(COALESCE(u.started_at, u.at), r.queued_at)),
              worker_id = COALESCE(u.worker_id, r.worker_id), exit_code = u.exit_code, http_status = u.http_status,
              error = u.error, output = u.output, failed_by_core = u.by_core
         FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::int[], $7::int[], $8::text[], $9::text[], $10::timestamptz[], $11::bool[], $12::text[])
              AS u(id, attempt, status, at, worker_id, exit_code, http_status, error, output, started_at, by_core, expect)
        WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND ${statusAmong('r', ACTIVE)}
          AND (u.expect IS NULL OR r.worker_id = u.expect)
        RETURNING r.id::text AS id, r.task_id::text AS task_id, r.scheduled_time, r.shard, r.attempt, r.status`,
    columns,
  );
  return rows;
}
