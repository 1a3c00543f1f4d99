import type { Queryable } from './db.ts';

/**
 * How far the status path is proven to deliver (hg_status_path, migration 0009): the time of the newest
 * status probe applied, never later than the applier's own time (a probe from a clock ahead proves nothing
 * beyond now).
 */
export async function recordStatusProbe(db: Queryable, at: Date, now: Date): Promise<void> {
  await db.query('UPDATE hg_status_path SET proven_at = GREATEST(proven_at, LEAST($1::timestamptz, $2::timestamptz))', [at.toISOString(), now.toISOString()]);
}

/** the time up to which every heartbeat sent has been applied; -Infinity (as a Date, NaN-free) before any probe */
export async function statusProvenAt(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ ms: number | null }>(`SELECT CASE WHEN proven_at = '-infinity' THEN NULL ELSE (extract(epoch FROM proven_at) * 1000)::float8 END AS ms FROM hg_status_path`);
  const ms = rows[0]?.ms;
  return new Date(ms === null || ms === undefined ? 0 : Number(ms));
}
