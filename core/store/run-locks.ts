import type { Queryable } from './db.ts';

/** Locks these runs' rows in id order (the one lock order of hg_runs, see finishAttempts in core/dispatch/outcomes.ts). */
export async function lockRunsInIdOrder(tx: Queryable, runIds: string[]): Promise<void> {
  await tx.query('SELECT id FROM hg_runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [[...new Set(runIds)]]);
}

/**
 * For the rest of the caller's transaction, no sequential scan: it settles a batch of runs by id. While
 * hg_runs is small (tens of thousands of rows) the planner rates reading all of it as cheap as a few
 * hundred index lookups, and did so for the lock and the update of every batch of outcomes: the history
 * writer then read the whole table twice per batch, and was slower on a new installation than with 10
 * million runs (issue 15). `SET LOCAL` ends with the transaction and works through PgBouncer.
 */
export async function reachRunsByIndex(tx: Queryable): Promise<void> {
  await tx.query('SET LOCAL enable_seqscan = off');
}
