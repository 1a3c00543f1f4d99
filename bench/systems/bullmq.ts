/**
 * BullMQ with its defaults (every completed job kept: removeOnComplete is off by default), one Queue
 * and one Worker on a unique key prefix, removed at teardown. Schedules are BullMQ job schedulers.
 */
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { SERVICE_URLS } from '../../test/support/services.ts';
import type { BenchSystem, JobKind, StartHook } from './types.ts';

const QUEUE = 'bench';
const BULK = 2000;

function connection() {
  const url = new URL(SERVICE_URLS.redis);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

export class BullmqSystem implements BenchSystem {
  readonly name = 'bullmq';
  readonly config = { retention: 'default (all completed jobs kept)', bulk: BULK };
  readonly #prefix = `bench-bull-${randomBytes(4).toString('hex')}`;
  #queue: Queue | undefined;
  #worker: Worker | undefined;
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
    this.#worker.on('completed', () => {
      this.#completed += 1;
      for (const wake of this.#waiters) wake();
    });
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
    await this.#queue?.obliterate({ force: true }).catch(() => {});
    await this.#queue?.close().catch(() => {});
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
