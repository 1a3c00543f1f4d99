import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import type { QueueConsumer, QueueNames, QueueProducer } from '../../core/queue/port.ts';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { coreOnTestDatabase, postgresConsumer } from '../support/core.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';

/**
 * POST /api/workers/{id}/drain reaches workers over the queue (workers of broker backends hold no database
 * credentials): publishDrain must reach onDrain on every backend, and must not look like a cancel.
 */
async function expectDrainDelivered(producer: QueueProducer, consumer: QueueConsumer): Promise<void> {
  const drained: string[] = [];
  const cancelled: string[] = [];
  await consumer.onDrain((id) => drained.push(id));
  await consumer.onCancel((ids) => cancelled.push(...ids));
  const workerId = 'host-1,odd id/ü';
  const deadline = Date.now() + 5000;
  // a subscription may need a moment to reach the broker: publish until it is heard
  while (drained.length === 0 && Date.now() < deadline) {
    await producer.publishDrain(workerId);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(drained[0], workerId);
  await producer.publishCancel([{ runId: '42', taskId: 't', attempt: 1 }]);
  const until = Date.now() + 5000;
  while (!cancelled.includes('42/1') && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(cancelled.includes('42/1'), 'the cancel names the attempt');
  assert.ok(drained.every((id) => id === workerId), 'a cancel is not a drain');
  assert.ok(cancelled.every((id) => id === '42/1' || id.startsWith('drain:')), 'the drain entry cannot be mistaken for a run id');
}

function names(): QueueNames {
  return { namespace: uniqueNamespace('drain'), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'heartbeats' };
}

const skips = { postgres: await skipUnless('postgres'), redis: await skipUnless('redis'), rabbitmq: await skipUnless('rabbitmq') };

describe('worker drain over the queue', () => {
  it('postgres', { skip: skips.postgres }, async () => {
    const env = await coreOnTestDatabase();
    const consumer = postgresConsumer(env.ctx, 'w');
    try {
      await expectDrainDelivered(env.ctx.queue, consumer);
    } finally {
      await consumer.close();
      await env.close();
    }
  });

  it('redis_stream', { skip: skips.redis }, async () => {
    const options = { url: SERVICE_URLS.redis, names: names() };
    const producer = createRedisStreamProducer(options);
    const consumer = createRedisStreamConsumer({ ...options, workerId: 'w' });
    try {
      await expectDrainDelivered(producer, consumer);
    } finally {
      await consumer.close();
      await producer.close();
    }
  });

  it('rabbitmq', { skip: skips.rabbitmq }, async () => {
    const queueNames = names();
    const options = { url: SERVICE_URLS.rabbitmq, names: queueNames, prefetch: 10, claimTimeoutMs: 5000 };
    const producer = createRabbitProducer(options);
    const consumer = createRabbitConsumer(options);
    try {
      await expectDrainDelivered(producer, consumer);
    } finally {
      await consumer.close();
      await producer.close();
      const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
      const channel = await connection.createChannel();
      const ns = queueNames.namespace;
      for (const queue of [`${ns}.${queueNames.statusQueue}`, `${ns}.${queueNames.heartbeatQueue}`, `${ns}.${queueNames.taskQueue}.claims`, `${ns}.${queueNames.taskQueue}.dead`]) await channel.deleteQueue(queue).catch(() => {});
      for (const exchange of [`${ns}.${queueNames.taskQueue}.dead`, `${ns}.${queueNames.taskQueue}.cancel`]) await channel.deleteExchange(exchange).catch(() => {});
      await connection.close();
    }
  });
});
