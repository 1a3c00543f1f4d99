/**
 * A core on a test database wired to each queue backend as the runtime wires it (status consumed into
 * Postgres, claims decided by the core), and a guarded worker consumer: for tests that must hold on all
 * three backends. Each backend gets its own namespace and cleans its broker objects up.
 */
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import { guardConsumer, type GuardedConsumer, type GuardOptions } from '../../core/queue/guarded-consumer.ts';
import type { QueueKind, QueueNames, QueueProducer, StatusEvent, Subscription } from '../../core/queue/port.ts';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { coreOnTestDatabase, postgresConsumer } from './core.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from './services.ts';

export interface BackendEnv {
  kind: QueueKind;
  env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  ctx: CoreContext;
  names: QueueNames;
  worker(workerId: string, guard?: GuardOptions): GuardedConsumer;
  close(): Promise<void>;
}

export const BACKENDS: QueueKind[] = ['postgres', 'redis_stream', 'rabbitmq'];

export async function skipBackend(kind: QueueKind): Promise<string | false> {
  if (kind === 'postgres') return skipUnless('postgres');
  return skipUnless('postgres', kind === 'redis_stream' ? 'redis' : 'rabbitmq');
}

/** `wrapStatus`: what the status consumer calls instead of applying each batch itself (a test that stalls it) */
type StatusHandler = (events: StatusEvent[]) => Promise<void>;

export async function openBackend(kind: QueueKind, pools: string[], options: { wrapStatus?: (apply: StatusHandler) => StatusHandler } = {}): Promise<BackendEnv> {
  const env = await coreOnTestDatabase();
  const names: QueueNames = { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
  const consumers: GuardedConsumer[] = [];
  const subscriptions: Subscription[] = [];
  let producer: QueueProducer = env.ctx.queue;
  if (kind === 'redis_stream') producer = createRedisStreamProducer({ url: SERVICE_URLS.redis, names, claimIdleMs: 1000, readTimeoutMs: 500 });
  if (kind === 'rabbitmq') producer = createRabbitProducer({ url: SERVICE_URLS.rabbitmq, names, prefetch: 10 });
  const ctx: CoreContext = { ...env.ctx, queue: producer };
  if (kind !== 'postgres') {
    const apply: StatusHandler = (events) => applyStatusEvents(ctx, events);
    subscriptions.push(await producer.consumeStatus(options.wrapStatus ? options.wrapStatus(apply) : apply));
    subscriptions.push(await producer.serveClaims((claims) => decideClaims(ctx, claims)));
  }
  return {
    kind,
    env,
    ctx,
    names,
    worker(workerId, guard = {}) {
      const bare =
        kind === 'postgres'
          ? postgresConsumer(ctx, workerId)
          : kind === 'redis_stream'
            ? createRedisStreamConsumer({ url: SERVICE_URLS.redis, names, workerId, claimIdleMs: 1000, readTimeoutMs: 500 })
            : createRabbitConsumer({ url: SERVICE_URLS.rabbitmq, names, prefetch: 10, claimTimeoutMs: 5000 });
      const consumer = guardConsumer(bare, guard);
      consumers.push(consumer);
      return consumer;
    },
    async close() {
      for (const c of consumers) await c.close().catch(() => {});
      for (const s of subscriptions) await s.close().catch(() => {});
      if (kind !== 'postgres') await producer.close();
      await cleanBroker(kind, names, pools);
      await env.close();
    },
  };
}

async function cleanBroker(kind: QueueKind, names: QueueNames, pools: string[]): Promise<void> {
  if (kind === 'redis_stream') {
    const admin = new Redis(SERVICE_URLS.redis, { protocol: 2, maxRetriesPerRequest: 2 });
    const keys = (await admin.call('KEYS', `${names.namespace}:*`)) as string[];
    if (keys.length > 0) await admin.call('DEL', ...keys);
    await admin.quit();
  }
  if (kind === 'rabbitmq') {
    const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
    const channel = await connection.createChannel();
    const ns = names.namespace;
    for (const queue of [...pools.map((p) => `${ns}.${names.taskQueue}.${p}`), `${ns}.${names.taskQueue}.dead`, `${ns}.${names.taskQueue}.claims`, `${ns}.${names.statusQueue}`, `${ns}.${names.heartbeatQueue}`]) {
      await channel.deleteQueue(queue);
    }
    await channel.deleteExchange(`${ns}.${names.taskQueue}.dead`);
    await channel.deleteExchange(`${ns}.${names.taskQueue}.cancel`);
    await connection.close();
  }
}

/** Polls `probe` until it returns something other than undefined (events reach Postgres asynchronously). */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
