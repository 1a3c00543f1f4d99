import type { Queryable } from './db.ts';

/** Locks these runs' rows in id order (the one lock order of hg_runs, see finishAttempts in core/dispatch/outcomes.ts). */
export async function lockRunsInIdOrder(tx: Queryable, runIds: string[]): Promise<void> {
  await tx.query('SELECT id FROM hg_runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [[...new Set(runIds)]]);
}
