import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import type { QueueNames } from '../../core/queue/port.ts';
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
        await channel.assertQueue(poolQueue(pool), { durable: true, arguments: { 'x-max-priority': 10, 'x-dead-letter-exchange': `${ns}.dead` } });
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
          `${ns}.claims`,
          `${ns}.${queueNames.statusQueue}`,
          `${ns}.${queueNames.heartbeatQueue}`,
        ];
        for (const queue of queues) await channel.deleteQueue(queue);
        await channel.deleteExchange(`${ns}.dead`);
        await channel.deleteExchange(`${ns}.cancel`);
        await connection.close();
      },
    };
  },
  { skip: await skipUnless('rabbitmq') },
);
