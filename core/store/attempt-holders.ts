import type { Queryable } from './db.ts';

/** An attempt as a worker's outcome is judged against it: its state, its holder and the holder's key. */
export interface AttemptHolderRow {
  id: string;
  attempt: number;
  status: string;
  worker_id: string | null;
  failed_by_core: boolean;
  public_key: string | null;
}

/**
 * These attempts (run id and attempt number) as they stand, with the public key of the worker holding each
 * (null when none holds it or it registered no key): whether an outcome is applied, refused or reconciled
 * (applyOutcomes in core/dispatch/status.ts). An attempt that does not exist is absent.
 */
export async function attemptsWithHolders(db: Queryable, attempts: Array<{ runId: string; attempt: number }>): Promise<AttemptHolderRow[]> {
  const { rows } = await db.query<AttemptHolderRow>(
    `SELECT r.id::text AS id, r.attempt, r.status, r.worker_id, r.failed_by_core, w.public_key
       FROM hg_runs r JOIN unnest($1::bigint[], $2::int[]) AS u(id, attempt) ON r.id = u.id AND r.attempt = u.attempt
       LEFT JOIN hg_workers w ON w.id = r.worker_id
      WHERE r.id = ANY($1::bigint[])`,
    [attempts.map((e) => e.runId), attempts.map((e) => e.attempt)],
  );
  return rows;
}
