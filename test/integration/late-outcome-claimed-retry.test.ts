/**
 * A late success withdraws the retry the core made for its attempt only if no worker holds that retry yet
 * (late-outcomes.ts). Where the broker decides claims itself (redis_stream), the retry's row still says
 * queued after a worker claimed it, until its `started` event is applied; another core consumer may apply
 * the late success first (a consumer group's batches run side by side, a dead consumer's batch is taken
 * over only after its idle time). Deleting the row then lost the record of a retry that ran (chaos, seed
 * 124485720: an executed attempt with no outcome). On every backend, with the status consumer held back
 * as a slow or dead consumer holds it:
 * - a retry a worker claimed keeps its row, and its own outcome is recorded;
 * - a retry no worker claimed is withdrawn, and no worker can claim it afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promoteDueRuns } from '../../core/dispatch/enqueue.ts';
import { finishAttempts } from '../../core/dispatch/outcomes.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { createTaskFromInput, triggerTask } from '../../core/dispatch/tasks.ts';
import type { Delivery, QueueConsumer } from '../../core/queue/port.ts';
import { runsOf } from '../support/core.ts';
import { BACKENDS, eventually, openBackend, skipBackend, type BackendEnv } from '../support/queue-backends.ts';

const POOL = 'late-retry';

/** the status consumer applies nothing while closed: the batch it holds waits, as a stalled consumer's does */
class Gate {
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  close(): void {
    this.#open = new Promise((resolve) => (this.#release = resolve));
  }
  open(): void {
    this.#release();
  }
  get passed(): Promise<void> {
    return this.#open;
  }
}

async function receiveAttempt(worker: QueueConsumer, runId: string, attempt: number): Promise<Delivery> {
  return eventually(async () => {
    const got = await worker.receive(POOL, { max: 10, waitMs: 200 });
    return got.find((d) => d.message.runId === runId && d.message.attempt === attempt);
  }, `attempt ${runId}/${attempt} delivered`);
}

for (const kind of BACKENDS) {
  describe(`a late success and the retry made for its attempt (${kind})`, { skip: await skipBackend(kind) }, () => {
    let b: BackendEnv;
    const gate = new Gate();
    before(async () => (b = await openBackend(kind, [POOL], { wrapStatus: (apply) => async (events) => gate.passed.then(() => apply(events)) })));
    after(async () => {
      gate.open();
      await b?.close();
    });

    /** attempt 1 ran on `first`, the core failed it on that worker's behalf, and its retry waits in the queue */
    async function failedByCoreWithRetry(name: string, firstId: string): Promise<{ taskId: string; runId: string; retryId: string }> {
      const task = await createTaskFromInput(b.ctx, { name, type: 'noop', params: {}, pool: POOL, retry: { limit: 1, backoff: { initialSeconds: 0, jitter: 0 } } });
      const run = await triggerTask(b.ctx, task.id);
      const first = b.worker(firstId);
      assert.equal(await (await receiveAttempt(first, run.id, 1)).claim(firstId), true);
      // gone (partitioned away): a broker that pushes (rabbitmq) would hand it the retry too
      await first.close();
      await eventually(async () => ((await runsOf(b.env.db, task.id))[0]?.status === 'running' ? true : undefined), 'attempt 1 running');
      await finishAttempts(b.ctx, [{ runId: run.id, attempt: 1, status: 'failed', at: new Date(), error: 'worker partitioned declared dead', byCore: true, expectWorkerId: firstId }]);
      await promoteDueRuns(b.ctx);
      const retry = (await runsOf(b.env.db, task.id)).find((r) => r.attempt === 2);
      assert.equal(retry?.status, 'queued', 'the retry waits in the queue');
      return { taskId: task.id, runId: run.id, retryId: retry.id };
    }

    const lateSuccess = (runId: string, workerId: string) =>
      applyStatusEvents(b.ctx, [{ kind: 'finished', runId, attempt: 1, workerId, at: new Date().toISOString(), status: 'succeeded', output: 'it ran after all' }]);

    it('keeps a retry that a worker claimed before the late success was applied, and records its outcome', async (t) => {
      t.after(() => gate.open());
      const { taskId, runId, retryId } = await failedByCoreWithRetry('claimed-retry', 'partitioned');
      const second = b.worker('second');
      const delivery = await receiveAttempt(second, retryId, 2);
      gate.close(); // the retry's start (on redis_stream: in the status stream) is not applied yet
      assert.equal(await delivery.claim('second'), true);
      await lateSuccess(runId, 'partitioned'); // applied by another core consumer, first
      const during = await runsOf(b.env.db, taskId);
      assert.deepEqual(during.map((r) => [r.attempt, r.status === 'succeeded' ? 'succeeded' : 'kept']), [[1, 'succeeded'], [2, 'kept']], 'the claimed retry still has its row');
      gate.open();
      await second.publishStatus([{ kind: 'finished', runId: retryId, attempt: 2, workerId: 'second', at: new Date().toISOString(), status: 'succeeded', output: 'retry ran' }]);
      const runs = await eventually(async () => {
        const all = await runsOf(b.env.db, taskId);
        return all.find((r) => r.attempt === 2)?.status === 'succeeded' ? all : undefined;
      }, 'the retry\'s outcome recorded');
      assert.deepEqual(runs.map((r) => [r.attempt, r.status]), [[1, 'succeeded'], [2, 'succeeded']]);
      await second.close();
    });

    it('withdraws a retry no worker claimed, and no worker can claim it afterwards', async () => {
      const { taskId, runId, retryId } = await failedByCoreWithRetry('waiting-retry', 'partitioned-2');
      await lateSuccess(runId, 'partitioned-2');
      assert.deepEqual((await runsOf(b.env.db, taskId)).map((r) => [r.attempt, r.status]), [[1, 'succeeded']], 'the retry is withdrawn');
      // its message may still be in the queue (redis_stream, rabbitmq): every copy a worker gets is refused
      const late = b.worker('late-claimer');
      const claims: boolean[] = [];
      for (let i = 0; i < 3; i++) {
        for (const d of await late.receive(POOL, { max: 10, waitMs: 300 })) if (d.message.runId === retryId) claims.push(await d.claim('late-claimer'));
      }
      assert.ok(claims.every((granted) => !granted), `the withdrawn retry is refused (claims: ${claims.join(', ')})`);
      assert.equal((await runsOf(b.env.db, taskId)).length, 1);
    });
  });
}
