import { databaseNow, type Db, type DequeuedRow, dequeueRuns, notify, pingDatabase, queuedRunCount, runsTakenSince } from '../store/index.ts';
import { buildRunMessage } from './run-message.ts';
import { cancelEntry, drainedWorkers, drainSignal, type Delivery, type QueueConsumer, type QueueProducer, type RunMessage, type StatusEvent, type Subscription } from './port.ts';

/** Must match core/dispatch/enqueue.ts, which NOTIFYs in the transaction that queues runs. */
const RUNS_QUEUED_CHANNEL = 'hg_runs_queued';
const CANCEL_CHANNEL = 'hg_cancel';
/** pg_notify payloads are capped at 8000 bytes */
const CANCEL_CHUNK = 400;

export interface PostgresQueueOptions {
  db: Db;
  /** where status events go: straight to the core's writer, since these workers hold database access */
  applyStatus: (events: StatusEvent[]) => Promise<void>;
}

/**
 * The queue is the runs table itself: the dispatcher's insert is the enqueue, a worker takes runs with
 * FOR UPDATE SKIP LOCKED (the claim and the receive are one statement), and LISTEN/NOTIFY wakes it.
 */
export function createPostgresProducer(options: PostgresQueueOptions): QueueProducer {
  const { db } = options;
  return {
    kind: 'postgres',
    // runs are queued by the insert that created them (core/dispatch/enqueue.ts); nothing more to do
    async publish() {},
    async backlog(pool) {
      return queuedRunCount(db, pool);
    },
    async consumeStatus() {
      return { close: async () => {} };
    },
    async serveClaims() {
      return { close: async () => {} };
    },
    // a waiting run was cancelled in the same statement that cancelled it here, so no worker can take it
    async publishCancel(targets) {
      const entries = targets.map(cancelEntry);
      for (let i = 0; i < entries.length; i += CANCEL_CHUNK) {
        await notify(db, CANCEL_CHANNEL, entries.slice(i, i + CANCEL_CHUNK).join(','));
      }
    },
    // a claim here is the row's update, which the caller's row lock holds back
    async withdraw(targets) {
      return targets;
    },
    // the id is URI-encoded: this channel's payload is a comma-separated list
    async publishDrain(workerId) {
      await notify(db, CANCEL_CHANNEL, drainSignal(encodeURIComponent(workerId)));
    },
    // these workers write their heartbeats straight to the core's writer: so does the probe
    async probeStatus(at) {
      await options.applyStatus([{ kind: 'probe', at }]);
    },
    async ping() {
      await pingDatabase(db);
    },
    async close() {},
  };
}

export function createPostgresConsumer(options: PostgresQueueOptions & { workerId: string }): QueueConsumer {
  const { db, workerId } = options;
  const wakers = new Set<() => void>();
  let listening: Promise<() => Promise<void>> | undefined;

  function waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const wake = done;
      const timer = setTimeout(done, ms);
      wakers.add(wake);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * The dequeue is the claim: when it fails without an answer (the connection dropped around the commit), it
   * may have taken runs this worker never saw (issue 12, defect 6). The next receive hands out what this
   * process took and did not deliver: attempts running under this worker id since this process's first
   * receive that it has not handed out. `delivered` is bounded: it only needs the attempts still running.
   */
  const delivered = new Set<string>();
  let since: Date | undefined;
  let uncertain = false;

  async function recoverLost(pool: string, max: number): Promise<Delivery[]> {
    if (!uncertain || since === undefined) return [];
    const rows = await runsTakenSince(db, workerId, pool, since);
    uncertain = false;
    return handOut(rows.filter((row) => !delivered.has(`${row.id}/${row.attempt}`)).slice(0, max));
  }

  function handOut(rows: DequeuedRow[]): Delivery[] {
    for (const row of rows) {
      delivered.add(`${row.id}/${row.attempt}`);
      if (delivered.size > 10_000) delivered.delete(delivered.values().next().value as string);
    }
    return rows
      .sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id))
      .map((row) => ({ message: toMessage(row), claim: async () => true }));
  }

  async function take(pool: string, max: number): Promise<Delivery[]> {
    since ??= await databaseNow(db);
    const lost = await recoverLost(pool, max);
    if (lost.length > 0) return lost;
    try {
      return handOut(await dequeue(pool, max));
    } catch (error) {
      uncertain = true;
      throw error;
    }
  }

  async function dequeue(pool: string, max: number): Promise<DequeuedRow[]> {
    // hg_dequeue (migration 0010): the claim and the receive in one statement, planned to walk hg_runs_queue
    return dequeueRuns(db, pool, max, workerId);
  }

  return {
    kind: 'postgres',
    async receive(pool, { max, waitMs, signal }) {
      listening ??= db.listen(RUNS_QUEUED_CHANNEL, () => {
        for (const wake of [...wakers]) wake();
      });
      try {
        await listening;
      } catch (error) {
        listening = undefined; // the next receive tries again
        throw error;
      }
      const first = await take(pool, max);
      if (first.length > 0 || waitMs <= 0 || signal?.aborted) return first;
      await waitForWork(waitMs, signal);
      return signal?.aborted ? [] : take(pool, max);
    },
    async publishStatus(events) {
      await options.applyStatus(events);
    },
    async onCancel(handler): Promise<Subscription> {
      const stop = await db.listen(CANCEL_CHANNEL, (payload) => handler(payload.split(',').filter(Boolean)));
      return { close: stop };
    },
    async onDrain(handler): Promise<Subscription> {
      const stop = await db.listen(CANCEL_CHANNEL, (payload) => {
        for (const id of drainedWorkers(payload.split(','))) handler(decodeURIComponent(id));
      });
      return { close: stop };
    },
    async ping() {
      await pingDatabase(db);
    },
    async close() {
      for (const wake of [...wakers]) wake();
      const stop = await listening;
      await stop?.();
    },
  };
}

/** The spec is the one captured with the run (hg_run_specs by hg_runs.spec_digest, or hg_runs.spec before migration 0010), not the task's current one (issue 12, defect 16). */
function toMessage(row: DequeuedRow): RunMessage {
  const spec = typeof row.spec === 'string' ? (JSON.parse(row.spec) as DequeuedRow['spec']) : row.spec;
  return buildRunMessage(
    { runId: row.id, attempt: row.attempt, taskId: row.task_id, taskName: row.name, pool: row.pool, priority: row.priority, shard: row.shard, shardTotal: row.shard_total, scheduledTime: new Date(row.scheduled_time) },
    spec,
  );
}
