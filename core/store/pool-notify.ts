import type { Queryable } from './db.ts';

/** One NOTIFY on `channel` per distinct pool, delivered when the caller's transaction commits. */
export async function notifyPools(tx: Queryable, channel: string, pools: string[]): Promise<void> {
  for (const pool of new Set(pools)) await tx.query('SELECT pg_notify($1, $2)', [channel, pool]);
}
