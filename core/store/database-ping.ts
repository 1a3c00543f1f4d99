import type { Queryable } from './db.ts';

/**
 * Throws when the database cannot answer. What the readiness probe, the queue adapter's ping, the reaper and
 * the status writer (is it the event or the database?) ask before they trust the database.
 */
export async function pingDatabase(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}
