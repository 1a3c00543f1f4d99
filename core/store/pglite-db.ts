import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.ts';
import type { Db, Queryable } from './db.ts';

/**
 * The embedded default: Postgres compiled to WASM, in this process, persisted under dataDir.
 * One process owns it, so the advisory lock (migrations) is always granted and never lost.
 */
export async function openPgliteDb(dataDir: string | undefined): Promise<Db> {
  // the whole database lives here (tasks, history, API key hashes): only its owner may read it, as Postgres
  // itself requires of a data directory
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // one process per data directory: a second one is refused with the holder's pid (data-dir-lock.ts)
  const lock = dataDir ? lockDataDir(dataDir) : undefined;
  const db = await PGlite.create(dataDir ? { dataDir } : {}).catch((error: unknown) => {
    lock?.release();
    throw error;
  });
  const asQueryable = (target: Pick<PGlite, 'query'>): Queryable => ({
    async query(sql, params) {
      const result = await target.query(sql, params as unknown[]);
      return { rows: result.rows as never[], rowCount: result.affectedRows ?? result.rows.length };
    },
  });
  const base = asQueryable(db);
  return {
    kind: 'pglite',
    query: base.query,
    async exec(sql) {
      await db.exec(sql);
    },
    transaction(work) {
      return db.transaction((tx) => work({ ...asQueryable(tx), exec: async (sql) => void (await tx.exec(sql)) }));
    },
    async listen(channel, onNotify) {
      const unlisten = await db.listen(channel, onNotify);
      return unlisten;
    },
    async tryLock() {
      return { lost: new Promise<void>(() => {}), release: async () => {} };
    },
    async close() {
      await db.close();
      lock?.release();
    },
  };
}
