import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import { CATCH_UP_ROWS_PER_TICK } from '../../core/dispatch/fire-plan.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import { coreOnTestDatabase, runsOf } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

/** polls until `probe` gives a value (an event with no notification to await), failing after `ms` */
async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A catch-up is written a chunk per tick, after the tick's on-time fires: an on-time fire waits for at most the
 * one catch-up write in flight when it came due, never for the backlog. Time is the core's clock, held still and
 * moved by the test, so what is asserted is the order of the writes (run ids), not how long they took.
 */
describe('catch-up never delays other tasks\' fires', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  before(async () => (env = await coreOnTestDatabase()));
  after(async () => env?.close());

  const noop = (name: string, extra: Record<string, unknown>) => createTaskFromInput(env.ctx, { name, type: 'noop', params: {}, pool: 'catch-up', ...extra });
  const backdate = (id: string, lastMs: number, anchorMs: number) =>
    env.db.query('UPDATE hg_tasks SET last_scheduled_time = $2, schedule_anchor = $3 WHERE id = $1', [id, new Date(lastMs), new Date(anchorMs)]);
  const newestCatchUpRun = async (ids: string[]) => {
    const { rows } = await env.db.query<{ id: string | null; n: number }>('SELECT max(id)::text AS id, count(*)::int AS n FROM hg_runs WHERE task_id = ANY($1::uuid[])', [ids]);
    return { id: Number(rows[0]?.id ?? 0), count: rows[0]?.n ?? 0 };
  };

  it('writes an on-time fire before more catch-up, behind one catch-up write at most', async () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    env.clock.ms = t0;
    // ten tasks two hours behind: 72,000 slots (all recorded: missed or replayed), dozens of writes
    const behind = await Promise.all(Array.from({ length: 10 }, (_, i) => noop(`behind-${i}`, { schedule: '@every 1s', catchUp: 'All', maxCatchUp: 100 })));
    for (const task of behind) await backdate(task.id, t0 - 7_200_000, t0 - 7_300_000);
    const onTime = await noop('on-time', { schedule: '@every 1s', catchUp: 'None' });
    await backdate(onTime.id, t0 - 1000, t0 - 60_000);
    const ids = behind.map((task) => task.id);
    const dispatcher = new Dispatcher(env.ctx, { syncIntervalMs: 60_000, maxBatch: 1000 });
    try {
      await dispatcher.start();
      // the first tick: the on-time fire (slot t0) is written before any catch-up run
      const first = await until(async () => (await runsOf(env.db, onTime.id))[0], 'the on-time fire of t0');
      const firstCatchUp = await until(async () => ((await newestCatchUpRun(ids)).count > 0 ? await env.db.query<{ id: string }>('SELECT min(id)::text AS id FROM hg_runs WHERE task_id = ANY($1::uuid[])', [ids]) : undefined), 'a catch-up write');
      assert.ok(Number(first.id) < Number(firstCatchUp.rows[0]?.id), 'the on-time fire went first in its tick');
      // the catch-up goes on tick after tick while the clock stands still
      const before = await until(async () => {
        const newest = await newestCatchUpRun(ids);
        return newest.count >= 3 * CATCH_UP_ROWS_PER_TICK ? newest : undefined;
      }, 'three catch-up writes');
      // the on-time task's next slot comes due in the middle of the catch-up
      env.clock.ms = t0 + 1000;
      const next = await until(async () => (await runsOf(env.db, onTime.id)).find((run) => run.scheduled_time.getTime() === t0 + 1000), 'the on-time fire of t0 + 1 s');
      const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM hg_runs WHERE task_id = ANY($1::uuid[]) AND id > $2 AND id < $3', [ids, before.id, next.id]);
      assert.ok((rows[0]?.n ?? 0) <= CATCH_UP_ROWS_PER_TICK, `at most the one catch-up write in flight came before it (${rows[0]?.n} runs)`);
      assert.equal(next.status, 'queued', 'it runs: it was on time');
      const after = await newestCatchUpRun(ids);
      assert.ok(after.count < behind.length * 7200, `the catch-up was still going on (${after.count} of ${behind.length * 7200} runs written)`);
    } finally {
      await dispatcher.stop();
      env.clock.ms = undefined;
    }
  });
});
