import type { Queryable } from './db.ts';
import { ms } from './rows.ts';
import type { RunChangeCursor } from './kubernetes-run-changes.ts';

/**
 * The operator's run cursor, kept in Postgres under its Lease's name, so the next leader continues where
 * the last one stopped instead of at the newest run (which would lose the Events of every run that
 * finished during the failover). Leaders never overlap, so one writer at a time.
 */
export async function loadRunCursor(db: Queryable, lease: string): Promise<RunChangeCursor | undefined> {
  const { rows } = await db.query<{ after_id: string; up_to: unknown }>('SELECT after_id::text AS after_id, up_to FROM hg_operator_cursors WHERE lease = $1', [lease]);
  const row = rows[0];
  const upTo = row ? ms(row.up_to) : null;
  return row && upTo !== null ? { afterId: row.after_id, upTo: new Date(upTo) } : undefined;
}

export async function saveRunCursor(db: Queryable, lease: string, cursor: RunChangeCursor, now: Date): Promise<void> {
  await db.query(
    `INSERT INTO hg_operator_cursors (lease, after_id, up_to, updated_at) VALUES ($1, $2::bigint, $3, $4)
     ON CONFLICT (lease) DO UPDATE SET after_id = excluded.after_id, up_to = excluded.up_to, updated_at = excluded.updated_at`,
    [lease, cursor.afterId, cursor.upTo.toISOString(), now.toISOString()],
  );
}
