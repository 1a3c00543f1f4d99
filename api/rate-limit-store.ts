import { Redis } from 'ioredis';
import type { Config } from '../core/config/index.ts';

/**
 * The Redis that API replicas share their rate-limit counters through: the queue's Redis when the queue
 * is redis_stream, or the Redis of a redis:// message_queue.url. None otherwise (each replica counts alone).
 * Short timeouts and no retries: the limiter skips Redis when it is down rather than stalling requests.
 */
export function rateLimitRedis(config: Config): Redis | undefined {
  const mq = config.message_queue;
  if (config.embedded || !config.api.rate_limiting.enabled) return undefined;
  const byUrl = /^rediss?:\/\//.test(mq.url);
  if (!byUrl && mq.type !== 'redis_stream') return undefined;
  const options = { connectTimeout: 500, maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false, connectionName: 'hourglass-api-ratelimit' };
  return byUrl
    ? new Redis(mq.url, options)
    : new Redis({ ...options, host: mq.redis.host, port: mq.redis.port, db: mq.redis.database, ...(mq.redis.password ? { password: mq.redis.password } : {}) });
}
