import type { Queryable } from './db.ts';

/**
 * A NOTIFY of `payload` on `channel`: sent when the caller's transaction commits (at once outside one), so a
 * listener never hears of what was rolled back. Postgres caps a payload at 8000 bytes; callers chunk theirs.
 */
export async function notify(db: Queryable, channel: string, payload: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, payload]);
}
