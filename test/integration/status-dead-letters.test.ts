/**
 * Issue 13, item 3: a status event that cannot be applied is dead-lettered with its reason and never holds
 * back the other workers' statuses and heartbeats (they shared one retried batch, so one task with
 * `retry.backoff` of 1e308 seconds stopped every worker from reporting and all were declared DOWN).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import { decideClaims } from '../../core/dispatch/status.ts';
import type { StatusEvent } from '../../core/queue/port.ts';
import { listDeadLetters } from '../../core/store/dead-letters.ts';
import { runsOf } from '../support/core.ts';
import { BACKENDS, eventually, openBackend, skipBackend, type BackendEnv } from '../support/queue-backends.ts';

const POOL = 'poison';

function heartbeat(workerId: string): StatusEvent {
  const at = new Date().toISOString();
  return { kind: 'heartbeat', workerId, pool: POOL, taskTypes: ['noop'], concurrency: 1, activeRuns: 0, status: 'ALIVE', hostname: 'h', version: 't', startedAt: at, at, held: [] };
}

for (const kind of BACKENDS) {
  describe(`a poisonous status event (${kind})`, { skip: await skipBackend(kind) }, () => {
    let b: BackendEnv;
    before(async () => (b = await openBackend(kind, [POOL])));
    after(async () => b?.close());

    it('is dead-lettered with its reason, and the other workers\' outcomes and heartbeats still apply', async () => {
      const huge = await createTaskFromInput(b.ctx, { name: 'huge-backoff', type: 'noop', params: {}, pool: POOL, retry: { limit: 1 } });
      // what the API now refuses but an older database may still hold
      await b.env.db.query(`UPDATE hg_tasks SET spec = jsonb_set(spec, '{retry,backoff}', '{"initialSeconds": 1e308, "factor": 1e308, "maxSeconds": 1e308, "jitter": 0}') WHERE id = $1`, [huge.id]);
      const plain = await createTaskFromInput(b.ctx, { name: 'plain', type: 'noop', params: {}, pool: POOL });
      const hugeRun = await triggerTask(b.ctx, huge.id);
      const badRun = await triggerTask(b.ctx, plain.id);
      const goodRun = await triggerTask(b.ctx, plain.id);
      await decideClaims(b.ctx, [
        { runId: hugeRun.id, attempt: 1, workerId: 'w-a' },
        { runId: badRun.id, attempt: 1, workerId: 'w-a' },
        { runId: goodRun.id, attempt: 1, workerId: 'w-b' },
      ]);
      const a = b.worker('w-a');
      const w = b.worker('w-b');
      const finished = (runId: string, workerId: string, at: string): StatusEvent => ({ kind: 'finished', runId, attempt: 1, workerId, at, status: 'failed', error: 'boom' });
      // one batch from worker a: an outcome whose retry date is not a date, one whose time Postgres refuses
      await a.publishStatus([finished(hugeRun.id, 'w-a', new Date().toISOString()), finished(badRun.id, 'w-a', '-271821-04-20T00:00:00.000Z'), heartbeat('w-a')]);
      await w.publishStatus([finished(goodRun.id, 'w-b', new Date().toISOString()), heartbeat('w-b')]);

      const workers = await eventually(async () => {
        const { rows } = await b.env.db.query<{ id: string }>(`SELECT id FROM hg_workers WHERE pool = $1 ORDER BY id`, [POOL]);
        return rows.length === 2 ? rows.map((r) => r.id) : undefined;
      }, 'both heartbeats applied');
      assert.deepEqual(workers, ['w-a', 'w-b']);
      const good = await eventually(async () => {
        const runs = (await runsOf(b.env.db, plain.id)).filter((r) => r.id === goodRun.id);
        return runs[0]?.status === 'failed' ? runs[0] : undefined;
      }, 'the other worker\'s outcome applied');
      assert.equal(good.error, 'boom');
      // the huge backoff no longer poisons anything: the retry is scheduled at a bounded time
      const hugeRuns = await eventually(async () => {
        const runs = await runsOf(b.env.db, huge.id);
        return runs.length === 2 ? runs : undefined;
      }, 'the huge-backoff outcome applied');
      assert.equal(hugeRuns[0]?.status, 'failed');
      assert.ok((hugeRuns[1]?.not_before?.getTime() ?? 0) <= Date.now() + 366 * 86_400_000, 'bounded retry date');
      // the outcome Postgres cannot store is set aside with why, not retried for ever
      const letters = await eventually(async () => {
        const all = (await listDeadLetters(b.env.db)).filter((l) => l.runId === badRun.id);
        return all.length > 0 ? all : undefined;
      }, 'the dead letter');
      assert.equal(letters[0]?.kind, 'finished');
      assert.equal(letters[0]?.workerId, 'w-a');
      assert.match(letters[0]?.reason ?? '', /could not be applied/);
      assert.match(letters[0]?.payload ?? '', /-271821/);
    });
  });
}
