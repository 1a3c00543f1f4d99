import { pino } from 'pino';
import { systemClock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { createPostgresConsumer, createPostgresProducer } from '../../core/queue/postgres.ts';
import type { Db } from '../../core/store/db.ts';
import { migrate } from '../../core/store/migrate.ts';
import { openPgDb } from '../../core/store/pg-db.ts';
import { createTestDatabase } from './services.ts';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A new migrated test database; `close` closes the connections and drops it. */
export async function migratedTestDatabase(maxConnections: number): Promise<{ db: Db; url: string; close(): Promise<void> }> {
  const testDb = await createTestDatabase();
  const db = await openPgDb({ url: testDb.url, maxConnections, logger: silentLogger });
  await migrate(db);
  return {
    db,
    url: testDb.url,
    async close() {
      await db.close();
      await testDb.drop();
    },
  };
}

/** A migrated test database with a core context on the postgres queue; `clock.ms` moves time for the core. */
export async function coreOnTestDatabase(): Promise<{ ctx: CoreContext; db: Db; url: string; clock: { ms: number | undefined }; close(): Promise<void> }> {
  const { db, url, close } = await migratedTestDatabase(5);
  const clock: { ms: number | undefined } = { ms: undefined };
  const ctx: CoreContext = {
    db,
    logger: silentLogger,
    clock: { ...systemClock, now: () => clock.ms ?? Date.now() },
    now: () => clock.ms ?? Date.now(),
    queue: createPostgresProducer({ db, applyStatus: (events) => applyStatusEvents(ctx, events) }),
  };
  return { ctx, db, url, clock, close };
}

export function postgresConsumer(ctx: CoreContext, workerId: string) {
  return createPostgresConsumer({ db: ctx.db, workerId, applyStatus: (events) => applyStatusEvents(ctx, events) });
}

export async function runsOf(db: Db, taskId: string) {
  const { rows } = await db.query<{ id: string; scheduled_time: Date; attempt: number; status: string; trigger: string; error: string | null; not_before: Date | null; worker_id: string | null }>(
    `SELECT id::text AS id, scheduled_time, attempt, status, trigger, error, not_before, worker_id FROM hg_runs WHERE task_id = $1 ORDER BY scheduled_time, attempt`,
    [taskId],
  );
  return rows;
}
