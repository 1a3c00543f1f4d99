import type { Queryable } from './db.ts';

/**
 * The random id migration 0008 gave this database (hg_install): what tells two installations apart (the
 * Redis namespace claim, cli/namespace-claim.ts). Undefined when the table is empty.
 */
export async function readInstallId(db: Queryable): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>('SELECT id::text AS id FROM hg_install');
  return rows[0]?.id;
}
