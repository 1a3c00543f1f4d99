/**
 * Deaf is not dead (issue 12): while the core's status consumer is stalled (a batch stuck in a hung round
 * trip, a frozen replica), the workers' heartbeats wait in the broker and their silence must not count: the
 * reaper judges silence only up to the newest status probe that came back through the same path
 * (reaper.ts, hg_status_path). A worker that really went silent is still declared dead once the path
 * delivers. On every backend (on postgres the path is the database itself: the probe is applied at once).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reap } from '../../core/dispatch/reaper.ts';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { StatusEvent } from '../../core/queue/port.ts';
import { statusProvenAt } from '../../core/store/status-path.ts';
import { runsOf } from '../support/core.ts';
import { BACKENDS, eventually, openBackend, skipBackend, type BackendEnv } from '../support/queue-backends.ts';

const POOL = 'deaf';
const TIMEOUT_S = 30;

function heartbeat(workerId: string, held: string[], at: number): StatusEvent {
  const iso = new Date(at).toISOString();
  return { kind: 'heartbeat', workerId, pool: POOL, taskTypes: ['noop'], concurrency: 2, activeRuns: held.length, status: 'ALIVE', hostname: 'h', version: 't', startedAt: iso, at: iso, held };
}

async function workerStatus(b: BackendEnv, workerId: string): Promise<string | undefined> {
  const { rows } = await b.env.db.query<{ status: string }>('SELECT status FROM hg_workers WHERE id = $1', [workerId]);
  return rows[0]?.status;
}

/** a reaper pass, then the wait for its probe to come back (proven up to the pass's time) */
async function reapAndProve(b: BackendEnv): Promise<void> {
  const at = b.env.clock.ms as number;
  await reap(b.ctx, { workerTimeoutSeconds: TIMEOUT_S });
  await eventually(async () => ((await statusProvenAt(b.env.db)).getTime() >= at ? true : undefined), 'the probe applied');
}

for (const kind of BACKENDS) {
  describe(`a stalled status consumer is deaf, not dead (${kind})`, { skip: await skipBackend(kind) }, () => {
    let b: BackendEnv;
    /** while set, every batch the status consumer is handed waits for it */
    let stall: Promise<void> | undefined;
    let release: () => void = () => {};
    let stalledBatches = 0;
    before(async () => {
      b = await openBackend(kind, [POOL], {
        wrapStatus: (apply) => async (events) => {
          if (stall) {
            stalledBatches++;
            await stall;
          }
          await apply(events);
        },
      });
    });
    after(async () => {
      release();
      b.env.clock.ms = undefined;
      await b?.close();
    });

    it('keeps a heartbeating worker and its attempt alive through a stall longer than the worker timeout', async () => {
      const workerId = `w-${kind}`;
      const worker = b.worker(workerId);
      const task = await createTaskFromInput(b.ctx, { name: 'held-through-stall', type: 'noop', params: {}, pool: POOL, retry: { limit: 2, backoff: { initialSeconds: 0, jitter: 0 } } });
      const run = await triggerTask(b.ctx, task.id);
      const [delivery] = await eventually(async () => {
        const got = await worker.receive(POOL, { max: 1, waitMs: 200 });
        return got.length > 0 ? got : undefined;
      }, 'the run message');
      assert.equal(await delivery?.claim(workerId), true);
      const held = [`${run.id}/1`];
      const t0 = Date.now();
      b.env.clock.ms = t0;
      await worker.publishStatus([heartbeat(workerId, held, t0)]);
      await eventually(async () => ((await workerStatus(b, workerId)) === 'ALIVE' && (await runsOf(b.env.db, task.id))[0]?.status === 'running' ? true : undefined), 'the worker and its attempt recorded');
      await reapAndProve(b);

      if (kind === 'postgres') {
        // no consumer to stall: the heartbeats and the probe are written by the senders themselves
        b.env.clock.ms = t0 + 3 * TIMEOUT_S * 1000;
        await worker.publishStatus([heartbeat(workerId, held, b.env.clock.ms)]);
        assert.deepEqual(await reap(b.ctx, { workerTimeoutSeconds: TIMEOUT_S }), { workersDown: 0, runsFailed: 0 });
        await worker.close();
        return;
      }
      // the consumer stalls; the worker goes on heartbeating for three worker timeouts, into the broker
      stall = new Promise((resolve) => (release = resolve));
      const stalledBefore = stalledBatches;
      for (let s = 10; s <= 3 * TIMEOUT_S; s += 10) {
        b.env.clock.ms = t0 + s * 1000;
        await worker.publishStatus([heartbeat(workerId, held, b.env.clock.ms)]);
      }
      await eventually(async () => (stalledBatches > stalledBefore ? true : undefined), 'a batch stuck in the consumer');
      // the core itself can reach the database and the broker, and has for long: only the path is deaf
      const reaped = await reap(b.ctx, { workerTimeoutSeconds: TIMEOUT_S });
      assert.deepEqual(reaped, { workersDown: 0, runsFailed: 0 }, 'a worker whose heartbeats wait in a stalled consumer is not dead');
      assert.equal(await workerStatus(b, workerId), 'ALIVE');

      stall = undefined;
      release();
      await reapAndProve(b);
      assert.equal(await workerStatus(b, workerId), 'ALIVE');
      assert.equal((await runsOf(b.env.db, task.id))[0]?.status, 'running', 'the attempt was never failed');
      await worker.close();
    });

    it('still declares a silent worker dead once the path delivers, and fails its attempt', async () => {
      const workerId = `gone-${kind}`;
      const worker = b.worker(workerId);
      const task = await createTaskFromInput(b.ctx, { name: 'lost-with-worker', type: 'noop', params: {}, pool: POOL, retry: { limit: 0, backoff: { initialSeconds: 0, jitter: 0 } } });
      const run = await triggerTask(b.ctx, task.id);
      const [delivery] = await eventually(async () => {
        const got = await worker.receive(POOL, { max: 1, waitMs: 200 });
        return got.length > 0 ? got : undefined;
      }, 'the run message');
      assert.equal(await delivery?.claim(workerId), true);
      const t0 = Date.now();
      b.env.clock.ms = t0;
      await worker.publishStatus([heartbeat(workerId, [`${run.id}/1`], t0)]);
      await eventually(async () => ((await workerStatus(b, workerId)) === 'ALIVE' ? true : undefined), 'the worker recorded');
      await b.env.db.query(`UPDATE hg_runs SET started_at = $2 WHERE id = $1`, [run.id, new Date(t0)]);
      await worker.close();
      // the worker is gone; the path is healthy: a probe sent after its timeout comes back and it is judged
      b.env.clock.ms = t0 + 2 * TIMEOUT_S * 1000;
      await reapAndProve(b);
      const reaped = await reap(b.ctx, { workerTimeoutSeconds: TIMEOUT_S });
      assert.ok((await workerStatus(b, workerId)) === 'DOWN', `the silent worker is declared dead (reaper said ${JSON.stringify(reaped)})`);
      assert.equal((await runsOf(b.env.db, task.id))[0]?.status, 'failed');
    });
  });
}
