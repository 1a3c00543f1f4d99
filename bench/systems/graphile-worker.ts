/**
 * graphile-worker with the batching its performance docs recommend: a local queue that locks jobs in
 * batches and batched completion. It deletes completed jobs (no history). A fresh database per repetition.
 */
import { Logger, makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/services.ts';
import type { BenchSystem, JobKind, Spread, StartHook } from './types.ts';

const BULK = 2000;
const POLL_MS = 50;
const LOCAL_QUEUE = 200;
const COMPLETE_BATCH_DELAY_MS = 0;
/** spread: connections per runner (4 runners of graphile's default 10 would take 40 of the shared server's 100) */
const SPREAD_POOL_SIZE = 5;
const quiet = new Logger(() => () => {});

export class GraphileWorkerSystem implements BenchSystem {
  readonly name = 'graphile-worker';
  readonly config: Record<string, string | number | boolean> = {
    retention: 'completed jobs deleted (no history)',
    'localQueue.size': LOCAL_QUEUE,
    completeJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
    failJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
    bulk: `addJobs ${BULK}`,
  };
  #database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  #utils: WorkerUtils | undefined;
  #runner: Runner | undefined;
  readonly #spreadRunners: Runner[] = [];
  #spreadTasks = 0;
  #sql: pg.Client | undefined;
  #added = 0;

  async setup(): Promise<void> {
    this.#database = await createTestDatabase();
    this.#utils = await makeWorkerUtils({ connectionString: this.#database.url, logger: quiet });
    await this.#utils.migrate();
    this.#sql = new pg.Client({ connectionString: this.#database.url });
    await this.#sql.connect();
  }

  async submit(count: number, kind: JobKind): Promise<void> {
    if (kind !== 'noop') throw new Error('graphile-worker: only no-op jobs are compared');
    const utils = this.#utils as WorkerUtils;
    for (let i = 0; i < count; i += BULK) {
      await utils.addJobs(Array.from({ length: Math.min(BULK, count - i) }, (_, j) => ({ identifier: 'noop', payload: { i: i + j } })));
    }
    this.#added += count;
  }

  async trigger(key: string): Promise<void> {
    await (this.#utils as WorkerUtils).addJob('noop', { key });
    this.#added += 1;
  }

  /**
   * Task identifiers `task-0000`.. stand for the tasks; the pools have no counterpart: graphile's queue_name
   * is a serial queue (one job at a time per name), not routing, and every runner covers every pool here.
   */
  async prepareSpread(spread: Spread): Promise<void> {
    this.#spreadTasks = spread.tasks;
  }

  async submitSpread(count: number): Promise<void> {
    const utils = this.#utils as WorkerUtils;
    for (let i = 0; i < count; i += BULK) {
      await utils.addJobs(Array.from({ length: Math.min(BULK, count - i) }, (_, j) => ({ identifier: taskName((i + j) % this.#spreadTasks), payload: { i: i + j } })));
    }
    this.#added += count;
  }

  /** `workers` runners (each a worker process in production), each knowing every task identifier. */
  async startSpreadWorkers(workers: number, concurrency: number): Promise<void> {
    const noop: Task = async () => {};
    const taskList = Object.fromEntries(Array.from({ length: this.#spreadTasks }, (_, n) => [taskName(n), noop]));
    Object.assign(this.config, { spreadWorkers: `${workers} runners`, spreadConcurrency: concurrency, spreadMaxPoolSize: SPREAD_POOL_SIZE });
    for (let w = 0; w < workers; w++) {
      this.#spreadRunners.push(
        await run({
          connectionString: this.#database?.url,
          concurrency,
          maxPoolSize: SPREAD_POOL_SIZE,
          noHandleSignals: true,
          pollInterval: 2000,
          logger: quiet,
          preset: { worker: { localQueue: { size: LOCAL_QUEUE }, completeJobBatchDelay: COMPLETE_BATCH_DELAY_MS, failJobBatchDelay: COMPLETE_BATCH_DELAY_MS } },
          taskList,
        }),
      );
    }
  }

  async startWorker(concurrency: number, onStart?: StartHook): Promise<void> {
    this.#runner = await run({
      connectionString: this.#database?.url,
      concurrency,
      noHandleSignals: true,
      pollInterval: 2000,
      logger: quiet,
      preset: {
        worker: {
          localQueue: { size: LOCAL_QUEUE },
          completeJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
          failJobBatchDelay: COMPLETE_BATCH_DELAY_MS,
        },
      },
      taskList: {
        noop: async (payload, helpers) => {
          onStart?.((payload as { key?: string }).key ?? helpers.job.id, undefined);
        },
      },
    });
  }

  /** Done jobs are deleted; the table is read every POLL_MS until none is left. */
  async waitCompleted(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await (this.#sql as pg.Client).query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`);
      const left = rows[0]?.n ?? 0;
      if (this.#added - left >= count) return;
      if (Date.now() > deadline) throw new Error(`graphile-worker: ${this.#added - left} of ${count} completed after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  get database(): string | undefined {
    return this.#database ? new URL(this.#database.url).pathname.slice(1) : undefined;
  }

  async teardown(): Promise<void> {
    await this.#runner?.stop().catch(() => {});
    for (const runner of this.#spreadRunners) await runner.stop().catch(() => {});
    await Promise.resolve(this.#utils?.release()).catch(() => {});
    await this.#sql?.end().catch(() => {});
    await this.#database?.drop();
  }
}

const taskName = (n: number) => `task-${String(n).padStart(4, '0')}`;
