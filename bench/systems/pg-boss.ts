/**
 * pg-boss with its default retention (completed jobs kept 7 days) and LISTEN/NOTIFY on, as its docs
 * advise for latency; workers fetch in batches. A fresh database per repetition, dropped at teardown.
 */
import { PgBoss } from 'pg-boss';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/services.ts';
import type { BenchSystem, JobKind, Spread, StartHook } from './types.ts';

const QUEUE = 'bench';
const BULK = 2000;
const LOCAL_CONCURRENCY = 5;
const POLL_MS = 50;

export class PgBossSystem implements BenchSystem {
  readonly name = 'pg-boss';
  readonly config: Record<string, string | number | boolean> = {
    retention: 'default (deleteAfterSeconds 7 days)',
    useListenNotify: true,
    'queue.notify': true,
    localConcurrency: LOCAL_CONCURRENCY,
    burstWhenBatchFull: true,
  };
  #database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  #boss: PgBoss | undefined;
  #sql: pg.Client | undefined;
  /** the queues whose completed jobs count */
  #queues = [QUEUE];
  #spreadTasks = 0;

  async setup(): Promise<void> {
    this.#database = await createTestDatabase();
    this.#boss = new PgBoss({ connectionString: this.#database.url, useListenNotify: true, max: 10 });
    this.#boss.on('error', () => {});
    await this.#boss.start();
    await this.#boss.createQueue(QUEUE, { notify: true });
    this.#sql = new pg.Client({ connectionString: this.#database.url });
    await this.#sql.connect();
  }

  async submit(count: number, kind: JobKind): Promise<void> {
    if (kind !== 'noop') throw new Error('pg-boss: only no-op jobs are compared');
    const boss = this.#boss as PgBoss;
    for (let i = 0; i < count; i += BULK) {
      await boss.insert(QUEUE, Array.from({ length: Math.min(BULK, count - i) }, (_, j) => ({ data: { i: i + j } })));
    }
  }

  async trigger(key: string): Promise<void> {
    await (this.#boss as PgBoss).send(QUEUE, { key });
  }

  /** A queue per pool (`bench-0`..), LISTEN/NOTIFY on as for the one queue of the other scenarios. */
  async prepareSpread(spread: Spread): Promise<void> {
    this.#spreadTasks = spread.tasks;
    this.#queues = Array.from({ length: spread.pools }, (_, p) => `${QUEUE}-${p}`);
    for (const queue of this.#queues) await (this.#boss as PgBoss).createQueue(queue, { notify: true });
  }

  /** Job i carries task i % tasks and goes to that task's queue; each batch of BULK is one insert per queue, in parallel. */
  async submitSpread(count: number): Promise<void> {
    const boss = this.#boss as PgBoss;
    for (let i = 0; i < count; i += BULK) {
      const byQueue = this.#queues.map(() => [] as Array<{ data: { task: string; i: number } }>);
      for (let j = i; j < Math.min(i + BULK, count); j++) {
        const task = j % this.#spreadTasks;
        byQueue[task % this.#queues.length]?.push({ data: { task: `task-${String(task).padStart(4, '0')}`, i: j } });
      }
      await Promise.all(this.#queues.map((q, p) => ((byQueue[p]?.length ?? 0) > 0 ? boss.insert(q, byQueue[p] ?? []) : undefined)));
    }
  }

  /**
   * pg-boss's work() consumes one queue: each of the `workers` workers is one work() per queue, its
   * concurrency split evenly over them (localConcurrency 1 x batchSize). One PgBoss instance (one pool of
   * 10 connections) holds them all, as one process holds Hourglass's workers.
   */
  async startSpreadWorkers(workers: number, concurrency: number): Promise<void> {
    const batchSize = Math.max(1, Math.round(concurrency / this.#queues.length));
    Object.assign(this.config, { spreadWorkers: `${workers} x ${this.#queues.length} work() (one per queue)`, spreadLocalConcurrency: 1, spreadBatchSize: batchSize });
    for (let w = 0; w < workers; w++) {
      for (const queue of this.#queues) await (this.#boss as PgBoss).work(queue, { localConcurrency: 1, batchSize, burstWhenBatchFull: true }, async () => {});
    }
  }

  async startWorker(concurrency: number, onStart?: StartHook): Promise<void> {
    const batchSize = Math.max(1, Math.floor(concurrency / LOCAL_CONCURRENCY));
    this.config.batchSize = batchSize;
    await (this.#boss as PgBoss).work<{ key?: string }>(QUEUE, { localConcurrency: LOCAL_CONCURRENCY, batchSize, burstWhenBatchFull: true }, async (jobs) => {
      if (onStart) for (const job of jobs) onStart(job.data?.key ?? job.id, undefined);
    });
  }

  /** pg-boss has no completion event that follows the commit: the table is read every POLL_MS. */
  async waitCompleted(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await (this.#sql as pg.Client).query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = ANY($1::text[]) AND state = 'completed'`, [this.#queues]);
      const done = rows[0]?.n ?? 0;
      if (done >= count) return;
      if (Date.now() > deadline) throw new Error(`pg-boss: ${done} of ${count} completed after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  get database(): string | undefined {
    return this.#database ? new URL(this.#database.url).pathname.slice(1) : undefined;
  }

  async teardown(): Promise<void> {
    await this.#boss?.stop({ graceful: false, close: true, timeout: 2000 }).catch(() => {});
    await this.#sql?.end().catch(() => {});
    await this.#database?.drop();
  }
}
