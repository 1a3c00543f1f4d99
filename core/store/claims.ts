import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';

/** A worker asking to run an attempt (brokers that cannot decide claims themselves: rabbitmq). */
export interface ClaimRequest {
  runId: string;
  attempt: number;
  workerId: string;
}

/**
 * Grants claims: an attempt still waiting (pending or queued) becomes running under the worker that asks,
 * and one already running is granted again to the same worker only (a retried request after a lost
 * answer); a start is never recorded before the run was queued. Returns the attempts granted, with their
 * worker. Rows are locked in id order, the one lock order of hg_runs (core/dispatch/outcomes.ts).
 */
export async function grantClaims(db: Queryable, claims: ClaimRequest[], at: Date): Promise<Array<{ id: string; worker_id: string }>> {
  const { rows } = await db.query<{ id: string; worker_id: string }>(
    `WITH locked AS (SELECT id FROM hg_runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)
     UPDATE hg_runs r SET status = 'running', worker_id = u.worker_id, started_at = COALESCE(r.started_at, GREATEST($4::timestamptz, r.queued_at))
       FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, worker_id), locked
      WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND locked.id = r.id
        AND (${statusAmong('r', ['pending', 'queued'])} OR (${statusAmong('r', ['running'])} AND r.worker_id = u.worker_id))
      RETURNING r.id::text AS id, r.worker_id`,
    [claims.map((c) => c.runId), claims.map((c) => c.attempt), claims.map((c) => c.workerId), at.toISOString()],
  );
  return rows;
}
