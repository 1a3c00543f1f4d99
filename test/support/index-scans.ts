import type { Db } from '../../core/store/db.ts';

/** indexes of hg_runs whose leading column or predicate is the status: walking one reads every run of a status */
export const STATUS_INDEXES = ['hg_runs_active', 'hg_runs_status_id', 'hg_runs_worker', 'hg_runs_queue'];

/**
 * How many times each named index has been scanned, by name. Counts reach the shared statistics when a backend
 * next goes idle: this flushes its own backend's first, so `db` must have one connection, the one the work used.
 */
export async function indexScans(db: Db, names: string[]): Promise<Record<string, number>> {
  await db.query('SELECT pg_stat_force_next_flush()');
  const { rows } = await db.query<{ name: string; scans: string }>(
    `SELECT indexrelname AS name, idx_scan::text AS scans FROM pg_stat_user_indexes WHERE indexrelname = ANY($1::text[])`,
    [names],
  );
  return Object.fromEntries(rows.map((row) => [row.name, Number(row.scans)]));
}

/** the scans of these indexes added up */
export async function totalIndexScans(db: Db, names: string[]): Promise<number> {
  return Object.values(await indexScans(db, names)).reduce((sum, n) => sum + n, 0);
}
