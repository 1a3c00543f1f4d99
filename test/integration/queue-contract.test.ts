import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { QueueNames, RunMessage, StatusEvent } from '../../core/queue/port.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { RUNS_QUEUED_CHANNEL } from '../../core/dispatch/enqueue.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { createPostgresProducer } from '../../core/queue/postgres.ts';
import { coreOnTestDatabase, postgresConsumer } from '../support/core.ts';
import { CONTRACT_POOLS, runQueueContract } from '../support/queue-contract.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

function names(): QueueNames {
  return { namespace: uniqueNamespace(), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'heartbeats' };
}

runQueueContract(
  'redis_stream',
  async () => {
    const queueNames = names();
    const ns = queueNames.namespace;
    // claimIdleMs is small so that the dead-consumer case does not wait 30 s.
    const options = { url: SERVICE_URLS.redis, names: queueNames, claimIdleMs: 1000, readTimeoutMs: 1000 };
    const admin = new Redis(SERVICE_URLS.redis, { protocol: 2, lazyConnect: true, maxRetriesPerRequest: 2 });
    admin.on('error', () => {});
    return {
      producer: createRedisStreamProducer(options),
      consumer: async (workerId) => createRedisStreamConsumer({ ...options, workerId }),
      injectRaw: async (pool, raw) => {
        await admin.call('XADD', `${ns}:${queueNames.taskQueue}:${pool}:p0`, '*', 'm', raw);
      },
      deadLetters: async () => {
        const entries = (await admin.call('XRANGE', `${ns}:${queueNames.taskQueue}:dead`, '-', '+')) as [string, string[]][];
        return entries.map(([, fields]) => {
          const get = (name: string): string => fields[fields.indexOf(name) + 1] ?? '';
          return { reason: get('reason'), payload: get('payload') };
        });
      },
      cleanup: async () => {
        let cursor = '0';
        do {
          const [next, keys] = (await admin.call('SCAN', cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000)) as [string, string[]];
          cursor = next;
          if (keys.length > 0) await admin.call('DEL', ...keys);
        } while (cursor !== '0');
        await admin.quit();
      },
    };
  },
  { skip: await skipUnless('redis') },
);

runQueueContract(
  'rabbitmq',
  async () => {
    const queueNames = names();
    const ns = queueNames.namespace;
    const options = { url: SERVICE_URLS.rabbitmq, names: queueNames, prefetch: 10, claimTimeoutMs: 5000 };
    const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    const poolQueue = (pool: string): string => `${ns}.${queueNames.taskQueue}.${pool}`;
    const deadQueue = `${ns}.${queueNames.taskQueue}.dead`;
    const dead: { reason: string; payload: string }[] = [];
    return {
      producer: createRabbitProducer(options),
      consumer: async () => createRabbitConsumer(options),
      injectRaw: async (pool, raw) => {
        await channel.assertQueue(poolQueue(pool), { durable: true, arguments: { 'x-max-priority': 10, 'x-dead-letter-exchange': `${ns}.${queueNames.taskQueue}.dead` } });
        channel.sendToQueue(poolQueue(pool), Buffer.from(raw), { persistent: true });
      },
      deadLetters: async () => {
        await channel.assertQueue(deadQueue, { durable: true });
        for (;;) {
          const msg = await channel.get(deadQueue, { noAck: true });
          if (!msg) break;
          const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
          dead.push({ reason: String(headers['x-hourglass-reason'] ?? ''), payload: msg.content.toString('utf8') });
        }
        return dead.slice();
      },
      cleanup: async () => {
        const queues = [
          ...CONTRACT_POOLS.map(poolQueue),
          deadQueue,
          `${ns}.${queueNames.taskQueue}.claims`,
          `${ns}.${queueNames.statusQueue}`,
          `${ns}.${queueNames.heartbeatQueue}`,
        ];
        for (const queue of queues) await channel.deleteQueue(queue);
        await channel.deleteExchange(`${ns}.${queueNames.taskQueue}.dead`);
        await channel.deleteExchange(`${ns}.${queueNames.taskQueue}.cancel`);
        await connection.close();
      },
    };
  },
  { skip: await skipUnless('rabbitmq') },
);

runQueueContract(
  'postgres',
  async () => {
    const env = await coreOnTestDatabase();
    const producer = createPostgresProducer({ db: env.db, applyStatus: (events) => applyStatusEvents(env.ctx, events) });
    return {
      // The suite publishes made-up messages; here a run must exist as a row first. The row's real id (and
      // the fields the database gives it) are written back into the suite's message objects.
      producer: { ...producer, publish: (messages) => insertAsRuns(env.ctx, messages) },
      consumer: async (workerId) => postgresConsumer(env.ctx, workerId),
      cleanup: () => env.close(),
      semantics: { idempotentPublish: true, claimOnReceive: true, directStatus: true },
    };
  },
  { skip: await skipUnless('postgres') },
);

const inserted = new WeakSet<RunMessage>();
const slots = new Map<string, { taskId: string; scheduledTime: string }>();

/** Inserts one queued run per message (reusing the slot of an earlier message with the same runId). */
async function insertAsRuns(ctx: CoreContext, messages: RunMessage[]): Promise<void> {
  for (const m of messages) {
    if (inserted.has(m)) continue;
    let slot = slots.get(m.runId);
    if (!slot) {
      const { rows } = await ctx.db.query<{ id: string }>(
        `INSERT INTO hg_tasks (id, namespace, name, spec) VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id::text AS id`,
        [m.runId, m.taskName, JSON.stringify({ type: m.type, ...m.spec, timeoutSeconds: m.timeoutSeconds })],
      );
      slot = { taskId: rows[0]!.id, scheduledTime: m.scheduledTime };
      slots.set(m.runId, slot);
    }
    const { rows } = await ctx.db.query<{ id: string }>(
      `INSERT INTO hg_runs (task_id, scheduled_time, shard, shard_total, attempt, trigger, status, pool, priority, queued_at)
       VALUES ($1, $2, $3, $4, $5, 'manual', 'queued', $6, $7, now())
       ON CONFLICT ON CONSTRAINT hg_runs_slot DO UPDATE SET attempt = excluded.attempt RETURNING id::text AS id`,
      [slot.taskId, slot.scheduledTime, m.shard, m.shardTotal, m.attempt, m.pool, m.priority],
    );
    await ctx.db.query('SELECT pg_notify($1, $2)', [RUNS_QUEUED_CHANNEL, m.pool]);
    const original = m.runId;
    m.runId = rows[0]!.id;
    m.taskId = slot.taskId;
    slots.set(m.runId, slot);
    slots.set(original, slot);
    inserted.add(m);
  }
}

type RedisWorker = ReturnType<typeof createRedisStreamConsumer>;
interface RedisClaimsSetup<W extends readonly string[]> {
  queueNames: QueueNames;
  producer: ReturnType<typeof createRedisStreamProducer>;
  workers: { [K in keyof W]: RedisWorker };
  admin: Redis;
}

/** A producer, one worker per id and an admin connection on a fresh namespace, whose keys are deleted after. */
async function withRedisClaims<const W extends readonly string[]>(workerIds: W, body: (setup: RedisClaimsSetup<W>) => Promise<void>): Promise<void> {
  const queueNames = names();
  const options = { url: SERVICE_URLS.redis, names: queueNames, readTimeoutMs: 500 };
  const producer = createRedisStreamProducer(options);
  const workers = workerIds.map((workerId) => createRedisStreamConsumer({ ...options, workerId })) as { [K in keyof W]: RedisWorker };
  const admin = new Redis(SERVICE_URLS.redis, { protocol: 2, maxRetriesPerRequest: 2 });
  try {
    await body({ queueNames, producer, workers, admin });
  } finally {
    for (const worker of workers) await worker.close();
    await producer.close();
    const keys = (await admin.call('KEYS', `${queueNames.namespace}:*`)) as string[];
    if (keys.length > 0) await admin.call('DEL', ...keys);
    await admin.quit();
  }
}

describe('redis_stream claims', { skip: await skipUnless('redis') }, () => {
  it('record the started event in the same step, so a worker dying right after a claim is still seen running', () =>
    withRedisClaims(['w-claim'], async ({ queueNames, producer, workers: [worker], admin }) => {
      const message: RunMessage = {
        runId: '7', attempt: 1, taskId: '0b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a11', taskName: 't', pool: 'p', priority: 0, type: 'noop',
        spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
      };
      await producer.publish([message]);
      const [delivery] = await worker.receive('p', { max: 1, waitMs: 2000 });
      assert.equal(await delivery?.claim('w-claim'), true);
      // the worker "dies" here, before it publishes anything itself
      const seen: StatusEvent[] = [];
      const sub = await producer.consumeStatus(async (events) => void seen.push(...events));
      const deadline = Date.now() + 5000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await sub.close();
      assert.deepEqual(seen.map((e) => [e.kind, 'runId' in e ? e.runId : '', 'workerId' in e ? e.workerId : '']), [['started', '7', 'w-claim']]);
      // the claim key names the task, so another database's run 7 is a different claim
      const keys = (await admin.call('KEYS', `${queueNames.namespace}:*claim*`)) as string[];
      assert.deepEqual(keys, [`${queueNames.namespace}:${queueNames.taskQueue}:claim:${message.taskId}:7:1`]);
    }));

  it('decide the claims of one turn in one script call, each on its own: answers in order, one started event per claim won, and a claim Redis fails does not fail the others', () =>
    withRedisClaims(['w-batch'], async ({ queueNames, producer, workers: [worker], admin }) => {
      const taskId = '2b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a13';
      const claimKey = (runId: number) => `${queueNames.namespace}:${queueNames.taskQueue}:claim:${taskId}:${runId}:1`;
      const message = (runId: number): RunMessage => ({
        runId: String(runId), attempt: 1, taskId, taskName: 't', pool: 'p', priority: 0, type: 'noop',
        spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
      });
      const scriptCalls = async () => {
        const stats = String(await admin.call('INFO', 'commandstats'));
        return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      };
      // loads the script, so that the calls counted below are EVALSHA answered at once
      await producer.publish([message(19)]);
      const [first] = await worker.receive('p', { max: 1, waitMs: 2000 });
      assert.equal(await first?.claim('w-batch'), true);

      const runIds = Array.from({ length: 12 }, (_, i) => 20 + i);
      await producer.publish(runIds.map(message));
      await admin.set(claimKey(22), 'w-other');
      await admin.set(claimKey(27), 'w-other');
      const deliveries = await worker.receive('p', { max: runIds.length, waitMs: 2000 });
      assert.deepEqual(deliveries.map((d) => Number(d.message.runId)), runIds);
      const before = await scriptCalls();
      const answers = await Promise.all(deliveries.map((d) => d.claim('w-batch')));
      assert.equal(await scriptCalls() - before, 1, 'the twelve claims of one turn went as one script call');
      assert.deepEqual(answers, runIds.map((id) => id !== 22 && id !== 27));

      // a claim key of the wrong type makes the script fail on that claim, after the claims before it took effect
      const bad = runIds.map((id) => id + 20);
      await producer.publish(bad.map(message));
      await admin.rpush(claimKey(45), 'not a claim');
      const more = await worker.receive('p', { max: bad.length, waitMs: 2000 });
      assert.equal(more.length, bad.length);
      const settled = await Promise.allSettled(more.map((d) => d.claim('w-batch')));
      assert.deepEqual(settled.map((r) => r.status), bad.map((id) => (id === 45 ? 'rejected' : 'fulfilled')), 'only the failing claim fails');
      assert.ok(settled.every((r, i) => bad[i] === 45 || (r.status === 'fulfilled' && r.value === true)));

      const events = (await admin.call('XRANGE', `${queueNames.namespace}:${queueNames.statusQueue}`, '-', '+')) as Array<[string, string[]]>;
      const startedRuns = events.map(([, fields]) => JSON.parse(fields[1] as string) as { kind: string; runId: string }).filter((e) => e.kind === 'started').map((e) => Number(e.runId));
      const won = [19, ...runIds.filter((id) => id !== 22 && id !== 27), ...bad.filter((id) => id !== 45)];
      assert.deepEqual([...startedRuns].sort((a, b) => a - b), won, 'one started event per claim won, none for a claim asked again');
    }));

  it('answer a claim asked again by the worker that won it positively, and refuse every other worker (issue 12, defect 6)', () =>
    withRedisClaims(['w-win', 'w-other'], async ({ queueNames, producer, workers: [winner, other], admin }) => {
      const message: RunMessage = {
        runId: '8', attempt: 1, taskId: '1b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a12', taskName: 't', pool: 'p', priority: 0, type: 'noop',
        spec: { params: {} }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
      };
      await producer.publish([message, message, message]);
      const mine = await winner.receive('p', { max: 2, waitMs: 2000 });
      const theirs = await other.receive('p', { max: 1, waitMs: 2000 });
      assert.equal(mine.length, 2);
      assert.equal(await mine[0]?.claim('w-win'), true);
      // the answer was lost and the command is sent again (or a second copy arrives): the same answer
      assert.equal(await mine[1]?.claim('w-win'), true);
      assert.equal(await theirs[0]?.claim('w-other'), false);
      const ttl = Number(await admin.call('TTL', `${queueNames.namespace}:${queueNames.taskQueue}:claim:${message.taskId}:8:1`));
      assert.ok(ttl > 0 && ttl <= 6 * 3600, `claim keys are bounded to 6 hours, not 7 days (ttl ${ttl})`);
    }));
});
