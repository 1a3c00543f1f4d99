import type { Queryable } from './db.ts';

/** One thing the core or a worker refused, kept with why (migration 0005). */
export interface DeadLetter {
  source: 'status' | 'run';
  kind: string;
  workerId?: string | null;
  runId?: string | null;
  reason: string;
  payload: string;
}

/** payloads are kept for diagnosis, not replay: a bounded prefix is enough */
const MAX_PAYLOAD = 16 * 1024;
const MAX_REASON = 2000;

/** Text as Postgres can store it: no NUL characters, bounded. */
function bounded(text: string, max: number): string {
  const safe = text.replaceAll('\u0000', '\u2400');
  return safe.length <= max ? safe : `${safe.slice(0, max)}…`;
}

export async function insertDeadLetters(db: Queryable, letters: DeadLetter[], at: Date): Promise<void> {
  if (letters.length === 0) return;
  await db.query(
    `INSERT INTO hg_dead_letters (source, kind, worker_id, run_id, reason, payload, created_at)
     SELECT s, k, w, r, why, p, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(s, k, w, r, why, p)`,
    [
      letters.map((l) => l.source),
      letters.map((l) => bounded(l.kind, 100)),
      letters.map((l) => (l.workerId == null ? null : bounded(l.workerId, 200))),
      letters.map((l) => (l.runId == null ? null : bounded(l.runId, 100))),
      letters.map((l) => bounded(l.reason, MAX_REASON)),
      letters.map((l) => bounded(l.payload, MAX_PAYLOAD)),
      at.toISOString(),
    ],
  );
}

export interface StoredDeadLetter extends DeadLetter {
  id: string;
  createdAt: Date;
}

export async function listDeadLetters(db: Queryable, limit = 100): Promise<StoredDeadLetter[]> {
  const { rows } = await db.query<{ id: string; source: 'status' | 'run'; kind: string; worker_id: string | null; run_id: string | null; reason: string; payload: string; created_at: Date | string }>(
    // ORDER BY the column, not the text alias of the same name: as text, 99 came before 105
    'SELECT d.id::text AS id, source, kind, worker_id, run_id, reason, payload, created_at FROM hg_dead_letters d ORDER BY d.id DESC LIMIT $1',
    [limit],
  );
  return rows.map((r) => ({ id: r.id, source: r.source, kind: r.kind, workerId: r.worker_id, runId: r.run_id, reason: r.reason, payload: r.payload, createdAt: new Date(r.created_at) }));
}

/** Dead letters are diagnostics: kept for a week (the reaper prunes them). */
export async function pruneDeadLetters(db: Queryable, olderThan: Date): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM hg_dead_letters WHERE created_at < $1', [olderThan.toISOString()]);
  return rowCount;
}
