import path from 'node:path';
import { loadConfig } from '../core/config/index.ts';
import type { Db } from '../core/store/db.ts';
import { openPgDb } from '../core/store/pg-db.ts';
import { openPgliteDb } from '../core/store/pglite-db.ts';

/** The database the config chain points at, for one-shot commands (migrate). */
export async function openDatabase(flags: { config: string[]; dataDir: string }): Promise<Db> {
  const { config } = loadConfig({ extraFiles: flags.config });
  if (config.embedded) return openPgliteDb(path.resolve(flags.dataDir));
  return openPgDb({ url: config.database.url, maxConnections: 2, connectionTimeoutMs: config.database.connection_timeout_seconds * 1000 });
}
