/**
 * Issue 12, defect 1 (core side): a heartbeat that overtakes an attempt's outcome must never turn the
 * successful attempt into a failure. On every backend: the worker claims an attempt, its heartbeat without
 * the attempt lands first, the reaper runs with the attempt long past the worker timeout, then the outcome
 * lands: the attempt is recorded succeeded, once, with no retry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promoteDueRuns } from '../../core/dispatch/enqueue.ts';
import { reap } from '../../core/dispatch/reaper.ts';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { StatusEvent } from '../../core/queue/port.ts';
import { runsOf } from '../support/core.ts';
import { BACKENDS, eventually, openBackend, skipBackend, type BackendEnv } from '../support/queue-backends.ts';

const POOL = 'ordering';

function heartbeat(workerId: string, held: string[], at: number): StatusEvent {
  const iso = new Date(at).toISOString();
  return { kind: 'heartbeat', workerId, pool: POOL, taskTypes: ['noop'], concurrency: 2, activeRuns: held.length, status: 'ALIVE', hostname: 'h', version: 't', startedAt: iso, at: iso, held };
}

for (const kind of BACKENDS) {
  describe(`outcomes delayed behind heartbeats (${kind})`, { skip: await skipBackend(kind) }, () => {
    let b: BackendEnv;
    before(async () => (b = await openBackend(kind, [POOL])));
    after(async () => b?.close());

    it('a heartbeat that does not list an attempt never fails it; the late outcome is recorded as it was', async () => {
      const workerId = `w-${kind}`;
      const task = await createTaskFromInput(b.ctx, { name: 'overtaken', type: 'noop', params: {}, pool: POOL, retry: { limit: 2, backoff: { initialSeconds: 0, jitter: 0 } } });
      const run = await triggerTask(b.ctx, task.id);
      const worker = b.worker(workerId);
      const [delivery] = await eventually(async () => {
        const got = await worker.receive(POOL, { max: 1, waitMs: 200 });
        return got.length > 0 ? got : undefined;
      }, 'the run message');
      assert.equal(delivery?.message.runId, run.id);
      assert.equal(await delivery?.claim(workerId), true);
      await eventually(async () => ((await runsOf(b.env.db, task.id))[0]?.status === 'running' ? true : undefined), 'the attempt running');

      // the core has been receiving for a while, and the attempt started long ago
      const t0 = Date.now();
      b.env.clock.ms = t0;
      await reap(b.ctx, { workerTimeoutSeconds: 30 });
      b.env.clock.ms = t0 + 120_000;
      await b.env.db.query(`UPDATE hg_runs SET started_at = now() - interval '1 hour' WHERE id = $1`, [run.id]);
      // the worker finished the attempt: its heartbeat no longer lists it, and overtakes the outcome
      await worker.publishStatus([heartbeat(workerId, [], b.env.clock.ms)]);
      await eventually(async () => {
        const { rows } = await b.env.db.query<{ at: Date }>('SELECT last_heartbeat_at AS at FROM hg_workers WHERE id = $1', [workerId]);
        return rows[0] && rows[0].at.getTime() === t0 + 120_000 ? true : undefined;
      }, 'the heartbeat applied');
      const reaped = await reap(b.ctx, { workerTimeoutSeconds: 30 });
      assert.equal(reaped.runsFailed, 0, 'a live worker not listing an attempt proves nothing');
      assert.equal((await runsOf(b.env.db, task.id))[0]?.status, 'running');

      await worker.publishStatus([{ kind: 'finished', runId: run.id, attempt: 1, workerId, at: new Date(b.env.clock.ms).toISOString(), status: 'succeeded', output: 'done' }]);
      const runs = await eventually(async () => {
        const all = await runsOf(b.env.db, task.id);
        return all[0]?.status === 'succeeded' ? all : undefined;
      }, 'the outcome applied');
      assert.deepEqual(runs.map((r) => [r.attempt, r.status]), [[1, 'succeeded']], 'one attempt, succeeded, no retry');
      b.env.clock.ms = undefined;
      await worker.close();
    });

    it('an attempt the worker says it gave up claiming is failed at once and retried', async () => {
      const workerId = `w2-${kind}`;
      const task = await createTaskFromInput(b.ctx, { name: 'abandoned', type: 'noop', params: {}, pool: POOL, retry: { limit: 1, backoff: { initialSeconds: 0, jitter: 0 } } });
      const run = await triggerTask(b.ctx, task.id);
      const worker = b.worker(workerId);
      const [delivery] = await eventually(async () => {
        const got = await worker.receive(POOL, { max: 1, waitMs: 200 });
        return got.length > 0 ? got : undefined;
      }, 'the run message');
      assert.equal(await delivery?.claim(workerId), true);
      await eventually(async () => ((await runsOf(b.env.db, task.id))[0]?.status === 'running' ? true : undefined), 'the attempt running');
      // as if the answer to that claim had been lost: the ledger records it, the next heartbeat says so
      worker.ledger.abandon(run.id, 1);
      await worker.publishStatus([heartbeat(workerId, [], Date.now())]);
      const runs = await eventually(async () => {
        const all = await runsOf(b.env.db, task.id);
        return all[0]?.status === 'failed' ? all : undefined;
      }, 'the abandoned attempt failed');
      assert.match(runs[0]?.error ?? '', /never received its claim/);
      assert.equal(runs[1]?.attempt, 2, 'retried');
      await promoteDueRuns(b.ctx); // what the leader's retry timer does once the backoff is over
      const [again] = await eventually(async () => {
        const got = await worker.receive(POOL, { max: 1, waitMs: 200 });
        return got.length > 0 ? got : undefined;
      }, 'the retry');
      assert.equal(again?.message.attempt, 2);
      assert.equal(await again?.claim(workerId), true, 'the retry is a new attempt: this worker may run it');
      await worker.close();
    });
  });
}
