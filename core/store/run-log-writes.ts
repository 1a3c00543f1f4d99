import type { Queryable } from './db.ts';

/** A chunk of what an attempt printed, as a worker sent it; `at` is when the worker read it, or null. */
export interface RunLogLine {
  runId: string;
  attempt: number;
  seq: number;
  stream: string;
  chunk: string;
  at: string | null;
}

/**
 * Appends log chunks to hg_run_logs, stamped with the time the worker read each line (issue 18 item 19), or
 * `now` for a worker that does not say. A chunk already stored (same run, attempt and seq: a replay) is
 * skipped.
 */
export async function insertRunLogs(db: Queryable, logs: RunLogLine[], now: Date): Promise<void> {
  await db.query(
    `INSERT INTO hg_run_logs (run_id, attempt, seq, stream, chunk, created_at)
     SELECT id, attempt, seq, stream, chunk, COALESCE(at, $7::timestamptz)
       FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[], $6::timestamptz[]) AS u(id, attempt, seq, stream, chunk, at)
     ON CONFLICT DO NOTHING`,
    [logs.map((l) => l.runId), logs.map((l) => l.attempt), logs.map((l) => l.seq), logs.map((l) => l.stream), logs.map((l) => l.chunk), logs.map((l) => l.at), now.toISOString()],
  );
}
