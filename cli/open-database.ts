import path from 'node:path';
import { loadConfig } from '../core/config/index.ts';
import { type Db, openPgDb, openPgliteDb } from '../core/store/index.ts';
import { phase } from './startup-error.ts';

/** The database the config chain points at, for one-shot commands (migrate), and the environment. */
export async function openDatabase(flags: { config: string[]; dataDir: string }): Promise<{ db: Db; environment: string }> {
  const { config } = await phase('config', () => loadConfig({ extraFiles: flags.config }));
  const db = await phase('database', () =>
    config.embedded
      ? openPgliteDb(path.resolve(flags.dataDir))
      : openPgDb({ url: config.database.url, maxConnections: 2, connectionTimeoutMs: config.database.connection_timeout_seconds * 1000 }),
  );
  return { db, environment: config.environment };
}
