import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** advisory lock key: the ASCII of "hgmigrat" folded into 31 bits */
const MIGRATION_LOCK_KEY = 0x68676d69;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationStatus {
  version: number;
  name: string;
  appliedAt: string | null;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const sql = readFileSync(`${dir}/${file}`, 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    });
}

const LEDGER = `CREATE TABLE IF NOT EXISTS hg_schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;

/**
 * Applies pending migrations under an advisory lock, so replicas starting together migrate once.
 * Refuses to run against a schema newer than this code knows: old code on a new schema corrupts data.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<number[]> {
  const lock = await waitForLock(db);
  try {
    await db.exec(LEDGER);
    const { rows } = await db.query<{ version: number; checksum: string }>('SELECT version, checksum FROM hg_schema_migrations');
    const applied = new Map(rows.map((row) => [row.version, row.checksum]));
    const known = new Set(migrations.map((m) => m.version));
    const newest = Math.max(0, ...migrations.map((m) => m.version));
    const unknown = [...applied.keys()].filter((v) => !known.has(v) && v > newest);
    if (unknown.length > 0) {
      throw new Error(`the database schema is at version ${Math.max(...unknown)}, newer than this Hourglass knows (${newest}); upgrade Hourglass instead of running an older one`);
    }
    const done: number[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(`migration ${migration.version}_${migration.name} was changed after it was applied (checksum differs); add a new migration instead`);
        }
        continue;
      }
      await db.transaction(async (tx) => {
        await tx.exec(migration.sql);
        await tx.query('INSERT INTO hg_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [migration.version, migration.name, migration.checksum]);
      });
      done.push(migration.version);
    }
    return done;
  } finally {
    await lock.release();
  }
}

export async function migrationStatus(db: Db, migrations = loadMigrations()): Promise<MigrationStatus[]> {
  await db.exec(LEDGER);
  const { rows } = await db.query<{ version: number; applied_at: Date }>('SELECT version, applied_at FROM hg_schema_migrations');
  const applied = new Map(rows.map((row) => [row.version, row.applied_at]));
  return migrations.map((m) => ({ version: m.version, name: m.name, appliedAt: applied.get(m.version)?.toISOString() ?? null }));
}

async function waitForLock(db: Db) {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const lock = await db.tryLock(MIGRATION_LOCK_KEY);
    if (lock) return lock;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
