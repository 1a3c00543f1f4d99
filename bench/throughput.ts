/**
 * A first throughput probe (issue 7 builds the full harness with peers side by side): N no-op runs
 * submitted in bulk, executed by one worker at concurrency 50, with full run history kept in Postgres.
 *
 *   node bench/throughput.ts [postgres|redis_stream|rabbitmq] [N]
 *
 * Prints submit time, processing rate (first run executed to last outcome durable) and end-to-end rate.
 * Needs the local services of the test suite (Postgres, and Redis or RabbitMQ for those backends).
 */
import { pino } from 'pino';
import type { CoreContext } from '../core/dispatch/context.ts';
import { createRuns } from '../core/dispatch/enqueue.ts';
import { applyStatusEvents, decideClaims } from '../core/dispatch/status.ts';
import { createTaskFromInput } from '../core/dispatch/tasks.ts';
import type { QueueConsumer, QueueProducer, StatusEvent } from '../core/queue/port.ts';
import { createPostgresConsumer, createPostgresProducer } from '../core/queue/postgres.ts';
import { createRabbitConsumer, createRabbitProducer } from '../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../core/queue/redis-stream/index.ts';
import { migrate } from '../core/store/migrate.ts';
import { openPgDb } from '../core/store/pg-db.ts';
import { defaultRegistry } from '../worker/executors/index.ts';
import { Worker } from '../worker/worker.ts';
import { SERVICE_URLS, createTestDatabase, uniqueNamespace } from '../test/support/services.ts';

const backend = process.argv[2] ?? 'postgres';
const total = Number(process.argv[3] ?? 20_000);
const logger = pino({ level: 'warn' });
const database = await createTestDatabase();
const db = await openPgDb({ url: database.url, maxConnections: 10, logger });
await migrate(db);

const names = { namespace: uniqueNamespace('bench'), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
const holder: { ctx?: CoreContext } = {};
const applyStatus = (events: StatusEvent[]) => applyStatusEvents(holder.ctx as CoreContext, events);
const sides: Record<string, () => { producer: QueueProducer; consumer: QueueConsumer }> = {
  postgres: () => ({ producer: createPostgresProducer({ db, applyStatus }), consumer: createPostgresConsumer({ db, applyStatus, workerId: 'w' }) }),
  redis_stream: () => ({
    producer: createRedisStreamProducer({ url: SERVICE_URLS.redis, names }),
    consumer: createRedisStreamConsumer({ url: SERVICE_URLS.redis, names, workerId: 'w' }),
  }),
  rabbitmq: () => ({
    producer: createRabbitProducer({ url: SERVICE_URLS.rabbitmq, names, prefetch: 100 }),
    consumer: createRabbitConsumer({ url: SERVICE_URLS.rabbitmq, names, prefetch: 100 }),
  }),
};
const side = sides[backend];
if (!side) throw new Error(`unknown backend ${backend}: postgres, redis_stream or rabbitmq`);
const { producer, consumer } = side();
const ctx: CoreContext = { db, queue: producer, logger, now: Date.now };
holder.ctx = ctx;
const subscriptions = [await producer.consumeStatus((events) => applyStatusEvents(ctx, events)), await producer.serveClaims((claims) => decideClaims(ctx, claims))];

const task = await createTaskFromInput(ctx, { name: 'bench', type: 'noop', params: {} });
const submitStart = performance.now();
for (let i = 0; i < total; i += 2000) {
  const batch = Array.from({ length: Math.min(2000, total - i) }, (_, j) => ({ task, scheduledTime: new Date(1e12 + i + j), trigger: 'manual' as const }));
  await createRuns(ctx, batch);
}
const submitted = performance.now();
const worker = new Worker(consumer, defaultRegistry(), {
  workerId: 'w', pool: 'default', concurrency: 50, heartbeatIntervalMs: 5000, drainTimeoutMs: 5000, outputLimitBytes: 65536, version: 'bench', pollWaitMs: 200,
}, logger);
await worker.start();
for (;;) {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM hg_runs WHERE status = 'succeeded'`);
  if ((rows[0]?.n ?? 0) >= total) break;
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const done = performance.now();
const rate = (ms: number) => Math.round(total / (ms / 1000));
console.log(`${backend}: ${total} runs; submit ${Math.round(submitted - submitStart)} ms; processing ${rate(done - submitted)}/s; end to end ${rate(done - submitStart)}/s`);
await worker.stop();
for (const sub of subscriptions) await sub.close();
await consumer.close();
await producer.close();
await db.close();
await database.drop();
