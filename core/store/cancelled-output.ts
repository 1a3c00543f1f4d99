import type { Queryable } from './db.ts';
import { statusAmong } from './status-test.ts';

/** A worker's report of an attempt: what it printed and how it ended. */
export interface AttemptReport {
  runId: string;
  attempt: number;
  output?: string | null;
  exitCode?: number | null;
  httpStatus?: number | null;
}

/**
 * Writes the output (and exit code, HTTP status where none is recorded) of these attempts into runs that were
 * cancelled before their report and hold no output yet (why: keepOutputOfCancelled in core/dispatch/outcomes.ts).
 */
export async function keepOutputOfCancelledRuns(tx: Queryable, reports: AttemptReport[]): Promise<void> {
  await tx.query(
    `UPDATE hg_runs r SET output = u.output, exit_code = COALESCE(r.exit_code, u.exit_code), http_status = COALESCE(r.http_status, u.http_status)
       FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::int[]) AS u(id, attempt, output, exit_code, http_status)
      WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.attempt = u.attempt AND ${statusAmong('r', ['cancelled'])} AND r.output IS NULL`,
    [reports.map((o) => o.runId), reports.map((o) => o.attempt), reports.map((o) => o.output), reports.map((o) => o.exitCode ?? null), reports.map((o) => o.httpStatus ?? null)],
  );
}
