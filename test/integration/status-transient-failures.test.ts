/**
 * A status event is set aside (dead-lettered) only when the failure blames it, or when it keeps failing for
 * no reason we recognise. A broken connection is a reason we recognise, and it blames the moment: however
 * often it happens, the outcome is applied once the connection holds (simulator seed 393 of the default
 * world: a success set aside after five resets in a fault burst, then recorded as failed when its worker
 * died).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { Db, Queryable } from '../../core/store/db.ts';
import { listDeadLetters } from '../../core/store/dead-letters.ts';
import { coreOnTestDatabase, runsOf } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

/** the database, with the outcome lookup failing `times` times as a reset connection does */
function resetting(db: Db, times: { left: number }, code: string | undefined, message: string): Db {
  const fail = (sql: string) => {
    if (times.left > 0 && sql.includes('LEFT JOIN hg_workers w ON w.id = r.worker_id') && sql.includes('JOIN unnest')) {
      times.left--;
      throw Object.assign(new Error(message), code ? { code } : {});
    }
  };
  const wrap = (q: Queryable): Queryable => ({
    query: async (sql, params) => {
      fail(sql);
      return q.query(sql, params);
    },
  });
  return { ...db, ...wrap(db), transaction: (work) => db.transaction((tx) => work({ ...tx, ...wrap(tx) })) };
}

describe('status events and broken connections', { skip: await skipUnless('postgres') }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  for (const [label, code, message] of [
    ['a reset socket (ECONNRESET)', 'ECONNRESET', 'read ECONNRESET'],
    ['a connection ended without a code', undefined, 'Connection terminated unexpectedly'],
    ['a deadlock (40P01)', '40P01', 'deadlock detected'],
  ] as const) {
    it(`never sets a success aside for ${label}, however often it happens`, async () => {
      const task = await createTaskFromInput(env.ctx, { name: `flaky-${(code ?? 'nocode').toLowerCase()}`, type: 'noop', params: {}, pool: 'default' });
      const run = await triggerTask(env.ctx, task.id);
      const workerId = `w-${code ?? 'nocode'}`;
      assert.deepEqual(await decideClaims(env.ctx, [{ runId: run.id, attempt: 1, workerId }]), [true]);
      const times = { left: 12 };
      const ctx: CoreContext = { ...env.ctx, db: resetting(env.db, times, code, message) };
      const outcome = { kind: 'finished' as const, runId: run.id, attempt: 1, workerId, at: new Date().toISOString(), status: 'succeeded' as const, output: 'done' };
      let failures = 0;
      // the queue delivers the same event again after each failure
      for (;;) {
        try {
          await applyStatusEvents(ctx, [outcome]);
          break;
        } catch {
          failures++;
          assert.ok(failures <= 12, 'the event keeps failing after the connection holds');
        }
      }
      assert.equal(failures, 12, 'each broken connection reached the queue, which delivers again');
      const letters = (await listDeadLetters(env.db, 100)).filter((l) => l.runId === run.id);
      assert.deepEqual(letters, [], 'the success was not set aside');
      assert.deepEqual((await runsOf(env.db, task.id)).map((r) => [r.attempt, r.status]), [[1, 'succeeded']]);
    });
  }
});
