/**
 * Postgres keeps each task's fire partition (hg_tasks.fire_partition, migration 0012), so a dispatcher that
 * gains partitions reads their tasks only. The column must agree with partitionOf, which the dispatchers
 * use to decide what they own: a task stored under another partition would be loaded by no owner and never
 * fire. Checked on Postgres and on the embedded database (PGlite), for every way a task is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FIRE_PARTITIONS, partitionOf } from '../../core/dispatch/fire-partitions.ts';
import { createTask, type Db, forEachSchedulePage, migrate, openPgDb, openPgliteDb, type ScheduleState } from '../../core/store/index.ts';
import { loadMigrations } from '../../core/store/migrate.ts';
import { createTestDatabase, skipUnless } from '../support/services.ts';

const SAMPLE = 5000;

const DATABASES: Array<{ name: string; skip: () => Promise<string | false>; open: () => Promise<{ db: Db; drop: () => Promise<void> }> }> = [
  {
    name: 'Postgres',
    skip: () => skipUnless('postgres'),
    open: async () => {
      const testDb = await createTestDatabase();
      const db = await openPgDb({ url: testDb.url, maxConnections: 2, queryTimeoutMs: 10_000 });
      return { db, drop: async () => (await db.close(), await testDb.drop()) };
    },
  },
  {
    name: 'the embedded database',
    skip: async () => false,
    open: async () => {
      const db = await openPgliteDb(undefined);
      return { db, drop: () => db.close() };
    },
  },
];

for (const database of DATABASES) {
  describe(`each task's fire partition in ${database.name}`, { skip: await database.skip() }, () => {
    let db: Db;
    let drop: () => Promise<void>;
    const existing: string[] = [];
    before(async () => {
      ({ db, drop } = await database.open());
      // tasks written before the column existed get theirs from the migration
      await migrate(db, loadMigrations().filter((m) => m.version < 12));
      const { rows } = await db.query<{ id: string }>(`INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), 'before-' || i, '{"type":"noop","schedule":"@every 1m"}' FROM generate_series(1, 200) i RETURNING id::text AS id`);
      existing.push(...rows.map((r) => r.id));
      await migrate(db);
    });
    after(async () => drop?.());

    it('is filled in by the migration for the tasks that existed before it', async () => {
      const { rows } = await db.query<{ id: string; fire_partition: number }>('SELECT id::text AS id, fire_partition FROM hg_tasks WHERE id = ANY($1::uuid[])', [existing]);
      assert.equal(rows.length, existing.length);
      assert.deepEqual(rows.filter((r) => Number(r.fire_partition) !== partitionOf(r.id)), []);
    });

    it(`hg_fire_partition agrees with partitionOf on ${SAMPLE} random ids, and spreads them over all ${FIRE_PARTITIONS}`, async () => {
      const { rows } = await db.query<{ id: string; partition: number }>(
        'SELECT id::text AS id, hg_fire_partition(id) AS partition FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1::int)) ids',
        [SAMPLE],
      );
      assert.equal(rows.length, SAMPLE);
      const disagree = rows.filter((r) => Number(r.partition) !== partitionOf(r.id));
      assert.deepEqual(disagree.slice(0, 5), [], `${disagree.length} of ${SAMPLE} ids disagree`);
      assert.equal(new Set(rows.map((r) => Number(r.partition))).size, FIRE_PARTITIONS);
    });

    it('is set on every insert (the store\'s, and plain SQL\'s), and a load by partitions reads exactly their live scheduled tasks', async () => {
      for (let i = 0; i < 40; i++) {
        await createTask(db, { name: `scheduled-${i}`, labels: {}, spec: { type: 'noop', schedule: '@every 1m' } as never });
      }
      await db.query(`INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), 'plain-' || i, '{"type":"noop","schedule":"@every 1m"}' FROM generate_series(1, 40) i`);
      await db.query(`INSERT INTO hg_tasks (id, name, spec) SELECT gen_random_uuid(), 'unscheduled-' || i, '{"type":"noop"}' FROM generate_series(1, 10) i`);
      await db.query(`UPDATE hg_tasks SET deleted_at = now() WHERE name IN ('plain-1', 'scheduled-1')`);
      const { rows } = await db.query<{ id: string; name: string; fire_partition: number; scheduled: boolean; deleted: boolean }>(
        `SELECT id::text AS id, name, fire_partition, spec ? 'schedule' AS scheduled, deleted_at IS NOT NULL AS deleted FROM hg_tasks`,
      );
      assert.deepEqual(rows.filter((r) => Number(r.fire_partition) !== partitionOf(r.id)).map((r) => r.name), []);

      const wanted = [...new Set(rows.map((r) => Number(r.fire_partition)))].slice(0, 5);
      const loaded: ScheduleState[] = [];
      await forEachSchedulePage(db, (page) => loaded.push(...page), { partitions: wanted, pageSize: 7 });
      const expected = rows.filter((r) => r.scheduled && !r.deleted && wanted.includes(Number(r.fire_partition))).map((r) => r.id).sort();
      assert.ok(expected.length > 0);
      assert.deepEqual(loaded.map((s) => s.id).sort(), expected);
    });
  });
}
