import type { Config } from '../core/config/index.ts';
import { queueKind, redisUrl } from '../core/queue/factory.ts';
import type { QueueProducer } from '../core/queue/port.ts';

/** host:port of the broker, never its credentials: what an operator needs to read in a start-up error. */
export function brokerAddress(config: Config): string | undefined {
  const kind = queueKind(config);
  if (kind === 'postgres') return undefined;
  try {
    return new URL(kind === 'redis_stream' ? redisUrl(config) : config.message_queue.url).host;
  } catch {
    return undefined;
  }
}

/**
 * The broker answers a ping within the connection timeout, or start-up fails (exit 5). A producer
 * connects lazily: without this an API started on a dead broker and answered every trigger 30 s late.
 */
export async function brokerAnswers(producer: QueueProducer, config: Config): Promise<void> {
  const ms = config.message_queue.redis.connection_timeout_seconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      producer.ping(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s (message_queue.redis.connection_timeout_seconds)`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
