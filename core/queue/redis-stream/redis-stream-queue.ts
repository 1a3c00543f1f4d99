/**
 * redis_stream queue adapter (ioredis, Redis >= 7): the factories. Key layout in keys.ts, connection
 * settings in client.ts, the core's side in producer.ts (+ status-consumer.ts), a worker's side in
 * consumer.ts (+ receiver.ts, delivery.ts, cancel-subscriber.ts).
 *
 * Trimming: streams are NOT trimmed with MAXLEN. MAXLEN drops the oldest entries whether or not they were
 * delivered, which would silently lose runs that are still waiting. Instead each run entry is XDEL'd when
 * it is claimed (and each status entry when the core acked it), so streams only hold undelivered or
 * in-flight entries; [message_queue.redis] max_stream_length therefore has no effect (core/config/no-effect.ts).
 */
import type { QueueConsumer, QueueProducer } from '../port.ts';
import { RedisStreamConsumer } from './consumer.ts';
import type { RedisStreamConsumerOptions, RedisStreamQueueOptions } from './options.ts';
import { RedisStreamProducer } from './producer.ts';

export function createRedisStreamProducer(options: RedisStreamQueueOptions): QueueProducer {
  return new RedisStreamProducer(options);
}

export function createRedisStreamConsumer(options: RedisStreamConsumerOptions): QueueConsumer {
  if (!options.workerId) throw new Error('redis_stream consumer needs a workerId');
  return new RedisStreamConsumer(options);
}
