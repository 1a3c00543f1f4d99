/**
 * BullMQ with its defaults (every completed job kept: removeOnComplete is off by default), one Queue
 * and one Worker on a unique key prefix, removed at teardown. Schedules are BullMQ job schedulers.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { SERVICE_URLS } from '../../test/support/services.ts';
import type { BenchSystem, JobKind, Spread, StartHook } from './types.ts';

const QUEUE = 'bench';
const BULK = 2000;

function connection() {
  const url = new URL(SERVICE_URLS.redis);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

export class BullmqSystem implements BenchSystem {
  readonly name = 'bullmq';
  readonly config: Record<string, string | number | boolean> = { retention: 'default (all completed jobs kept)', bulk: BULK };
  readonly #prefix = `bench-bull-${randomBytes(4).toString('hex')}`;
  #queue: Queue | undefined;
  #worker: Worker | undefined;
  /** spread: one Queue per pool, and every worker's Worker objects (one per queue each) */
  #spreadQueues: Queue[] = [];
  #spreadTasks = 0;
  readonly #spreadWorkers: Worker[] = [];
  #completed = 0;
  readonly #waiters = new Set<() => void>();

  async setup(): Promise<void> {
    this.#queue = new Queue(QUEUE, { connection: connection(), prefix: this.#prefix });
    await this.#queue.waitUntilReady();
  }

  async submit(count: number, kind: JobKind): Promise<void> {
    if (kind !== 'noop') throw new Error('bullmq: only no-op jobs are compared');
    const queue = this.#queue as Queue;
    for (let i = 0; i < count; i += BULK) {
      await queue.addBulk(Array.from({ length: Math.min(BULK, count - i) }, (_, j) => ({ name: 'noop', data: { i: i + j } })));
    }
  }

  async trigger(key: string): Promise<void> {
    await (this.#queue as Queue).add('noop', { key });
  }

  async schedule(count: number, everyMs: number): Promise<void> {
    const queue = this.#queue as Queue;
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, j) => queue.upsertJobScheduler(`sched-${i + j}`, { every: everyMs }, { name: 'tick', data: { s: i + j } })),
      );
    }
  }

  async prepareSpread(spread: Spread): Promise<void> {
    this.#spreadTasks = spread.tasks;
    this.#spreadQueues = Array.from({ length: spread.pools }, (_, p) => new Queue(`${QUEUE}-${p}`, { connection: connection(), prefix: this.#prefix }));
    await Promise.all(this.#spreadQueues.map((q) => q.waitUntilReady()));
  }

  /** Job i is named after task i % tasks and goes to that task's queue; each batch of BULK is one addBulk per queue, in parallel. */
  async submitSpread(count: number): Promise<void> {
    const queues = this.#spreadQueues;
    for (let i = 0; i < count; i += BULK) {
      const byQueue = queues.map(() => [] as Array<{ name: string; data: { i: number } }>);
      for (let j = i; j < Math.min(i + BULK, count); j++) {
        const task = j % this.#spreadTasks;
        byQueue[task % queues.length]?.push({ name: `task-${String(task).padStart(4, '0')}`, data: { i: j } });
      }
      await Promise.all(queues.map((q, p) => ((byQueue[p]?.length ?? 0) > 0 ? q.addBulk(byQueue[p] ?? []) : undefined)));
    }
  }

  /** A BullMQ Worker consumes one queue: each of the `workers` workers is one Worker per queue, its concurrency split evenly over them. */
  async startSpreadWorkers(workers: number, concurrency: number): Promise<void> {
    const each = Math.max(1, Math.round(concurrency / this.#spreadQueues.length));
    Object.assign(this.config, { spreadWorkers: `${workers} x ${this.#spreadQueues.length} Worker objects (one per queue)`, spreadConcurrencyPerQueueWorker: each });
    for (let w = 0; w < workers; w++) {
      for (const queue of this.#spreadQueues) {
        const worker = new Worker(queue.name, async () => {}, { connection: connection(), prefix: this.#prefix, concurrency: each });
        worker.on('completed', () => this.#onCompleted());
        this.#spreadWorkers.push(worker);
      }
    }
    await Promise.all(this.#spreadWorkers.map((w) => w.waitUntilReady()));
  }

  #onCompleted(): void {
    this.#completed += 1;
    for (const wake of this.#waiters) wake();
  }

  async startWorker(concurrency: number, onStart?: StartHook): Promise<void> {
    this.#worker = new Worker(
      QUEUE,
      async (job: Job) => {
        if (onStart) {
          const data = job.data as { key?: string; s?: number };
          // a scheduler's job id is repeat:<scheduler id>:<intended time in ms>
          const intended = job.repeatJobKey ? Number(String(job.id).split(':').pop()) : undefined;
          onStart(data.key ?? `${job.repeatJobKey ?? ''}@${intended ?? ''}`, intended);
        }
      },
      { connection: connection(), prefix: this.#prefix, concurrency },
    );
    // 'completed' is emitted after moveToCompleted committed the outcome in Redis
    this.#worker.on('completed', () => this.#onCompleted());
    await this.#worker.waitUntilReady();
  }

  async waitCompleted(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#completed < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`bullmq: ${this.#completed} of ${count} completed after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.#waiters.clear();
    }
  }

  async teardown(): Promise<void> {
    await this.#worker?.close().catch(() => {});
    await Promise.all(this.#spreadWorkers.map((w) => w.close().catch(() => {})));
    for (const queue of [this.#queue, ...this.#spreadQueues]) {
      await queue?.obliterate({ force: true }).catch(() => {});
      await queue?.close().catch(() => {});
    }
    // whatever obliterate left (scheduler keys, events stream)
    const redis = new Redis(SERVICE_URLS.redis);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.#prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}
