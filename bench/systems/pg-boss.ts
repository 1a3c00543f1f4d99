/**
 * pg-boss with its default retention (completed jobs kept 7 days) and LISTEN/NOTIFY on, as its docs
 * advise for latency; workers fetch in batches. A fresh database per repetition, dropped at teardown.
 */
import { PgBoss } from 'pg-boss';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/services.ts';
import type { BenchSystem, JobKind, StartHook } from './types.ts';

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
      const { rows } = await (this.#sql as pg.Client).query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`, [QUEUE]);
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
