import { TERMINAL_STATUSES } from '../model/run.ts';
import type { Db } from './db.ts';

/** Only finished runs are ever removed: pending, queued and running runs belong to live work. */
const FINISHED = [...TERMINAL_STATUSES];

// A missed or skipped run never started, so it may have no finished_at: its creation time dates it.
const olderThan = (run: string) => `${run}.status = ANY($1::text[]) AND COALESCE(${run}.finished_at, ${run}.created_at) < $2`;

export interface CleanupCounts {
  runs: number;
  logs: number;
}

/** How many finished runs (and their log chunks) ended before `cutoff`. */
export async function countFinishedRunsBefore(db: Db, cutoff: Date): Promise<CleanupCounts> {
  const { rows } = await db.query<{ runs: string; logs: string }>(
    `SELECT (SELECT count(*) FROM hg_runs r WHERE ${olderThan('r')}) AS runs,
            (SELECT count(*) FROM hg_run_logs l JOIN hg_runs r ON r.id = l.run_id WHERE ${olderThan('r')}) AS logs`,
    [FINISHED, cutoff.toISOString()],
  );
  return { runs: Number(rows[0]?.runs ?? 0), logs: Number(rows[0]?.logs ?? 0) };
}

/**
 * Deletes at most `batchSize` finished runs that ended before `cutoff`, oldest first, with their logs
 * (ON DELETE CASCADE). Small batches keep each transaction short, so a large cleanup never holds locks
 * that the dispatcher or workers wait on; rows another session has locked are skipped, not waited for.
 */
export async function deleteFinishedRunsBefore(db: Db, cutoff: Date, batchSize: number): Promise<CleanupCounts> {
  // Walking hg_runs_finished in order stops after batchSize rows: a batch costs the same at the end of a
  // million-row cleanup as at its start (a filter plus sort would read every matching run each time).
  const ended = await deleteBatch(db, `r.finished_at < $2 AND r.status = ANY($1::text[])`, 'ORDER BY r.finished_at', cutoff, batchSize);
  if (ended.runs >= batchSize) return ended;
  // runs that never started (missed, skipped) may have no finished_at: their creation dates them
  const neverRan = await deleteBatch(db, `r.finished_at IS NULL AND r.status = ANY($1::text[]) AND r.created_at < $2`, '', cutoff, batchSize - ended.runs);
  return { runs: ended.runs + neverRan.runs, logs: ended.logs + neverRan.logs };
}

async function deleteBatch(db: Db, where: string, order: string, cutoff: Date, limit: number): Promise<CleanupCounts> {
  const { rows } = await db.query<{ runs: string; logs: string }>(
    // the ids as one array: "= ANY" keeps both lookups on the primary keys whatever the planner estimates
    `WITH doomed AS (
       SELECT r.id FROM hg_runs r WHERE ${where} ${order} LIMIT $3 FOR UPDATE SKIP LOCKED
     ), batch AS (
       SELECT ARRAY(SELECT id FROM doomed) AS ids
     ), gone AS (
       DELETE FROM hg_runs r USING batch WHERE r.id = ANY(batch.ids) RETURNING r.id
     )
     SELECT (SELECT count(*) FROM gone) AS runs,
            (SELECT count(*) FROM hg_run_logs l, batch WHERE l.run_id = ANY(batch.ids)) AS logs`,
    [FINISHED, cutoff.toISOString(), limit],
  );
  return { runs: Number(rows[0]?.runs ?? 0), logs: Number(rows[0]?.logs ?? 0) };
}

/** The scheduler's own tables (hg_ prefix), which may share a database and schema with others. */
async function schedulerTables(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT quote_ident(tablename) AS name FROM pg_tables
      WHERE schemaname = current_schema() AND tablename LIKE 'hg\\_%' ORDER BY tablename`,
  );
  return rows.map((r) => r.name);
}

async function totalBytes(db: Db): Promise<number> {
  const { rows } = await db.query<{ bytes: string | null }>(
    `SELECT sum(pg_total_relation_size(c.oid)) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'hg\\_%'`,
  );
  return Number(rows[0]?.bytes ?? 0);
}

export interface MaintenanceResult {
  tables: string[];
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

/**
 * VACUUM (ANALYZE) of the scheduler's tables: frees the space of deleted rows for reuse and refreshes the
 * planner's statistics. Table names cannot be bound as parameters; they come from the catalog, quoted.
 */
export async function vacuumTables(db: Db): Promise<MaintenanceResult> {
  return measured(db, async (tables) => {
    for (const table of tables) await db.query(`VACUUM (ANALYZE) ${table}`);
  });
}

/**
 * Rebuilds the indexes of the scheduler's tables. On a server this is REINDEX ... CONCURRENTLY, so
 * reads and writes go on meanwhile; the embedded database has no concurrent sessions to spare.
 */
export async function reindexTables(db: Db): Promise<MaintenanceResult> {
  const concurrently = db.kind === 'pg' ? ' CONCURRENTLY' : '';
  return measured(db, async (tables) => {
    for (const table of tables) await db.query(`REINDEX TABLE${concurrently} ${table}`);
  });
}

async function measured(db: Db, work: (tables: string[]) => Promise<void>): Promise<MaintenanceResult> {
  const started = Date.now();
  const tables = await schedulerTables(db);
  const bytesBefore = await totalBytes(db);
  await work(tables);
  return { tables, bytesBefore, bytesAfter: await totalBytes(db), durationMs: Date.now() - started };
}

/**
 * Drops every scheduler table and function (hg_ prefix) so migrations start from nothing. Development
 * only: the caller refuses it elsewhere. Names come from the catalog, quoted; nothing else shares the prefix.
 */
export async function dropSchedulerSchema(db: Db): Promise<string[]> {
  const tables = await schedulerTables(db);
  const { rows } = await db.query<{ signature: string }>(
    `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = current_schema() AND p.proname LIKE 'hg\\_%'`,
  );
  await db.transaction(async (tx) => {
    if (tables.length > 0) await tx.query(`DROP TABLE IF EXISTS ${tables.join(', ')} CASCADE`);
    for (const { signature } of rows) await tx.query(`DROP FUNCTION IF EXISTS ${signature} CASCADE`);
  });
  return [...tables, ...rows.map((r) => r.signature)];
}
