export {
  createRedisStreamConsumer,
  createRedisStreamProducer,
} from './redis-stream-queue.ts';
export type { RedisStreamConsumerOptions, RedisStreamQueueOptions } from './options.ts';
