import type { Config } from '../config/index.ts';
import type { Db } from '../store/index.ts';
import { guardConsumer, type GuardOptions } from './guarded-consumer.ts';
import { signatureCheck, signingKeys, signingProducer } from './signing-config.ts';
import type { QueueConsumer, QueueKind, QueueNames, QueueProducer, StatusEvent } from './port.ts';
import { createPostgresConsumer, createPostgresProducer } from './postgres.ts';
import { createRabbitConsumer, createRabbitProducer } from './rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from './redis-stream/index.ts';

/** Broker object names: the [message_queue] queue names under the installation's namespace. */
export function queueNames(config: Config): QueueNames {
  return {
    namespace: config.message_queue.namespace,
    taskQueue: config.message_queue.task_queue,
    statusQueue: config.message_queue.status_queue,
    heartbeatQueue: config.message_queue.heartbeat_queue,
  };
}

/** The embedded default always uses the postgres queue: there is no broker to talk to. */
export function queueKind(config: Config): QueueKind {
  return config.embedded ? 'postgres' : config.message_queue.type;
}

export function redisUrl(config: Config): string {
  if (config.message_queue.url) return config.message_queue.url;
  const { host, port, database, password } = config.message_queue.redis;
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return `redis://${auth}${host}:${port}/${database}`;
}

function brokerUrl(config: Config, kind: QueueKind): string {
  if (kind === 'redis_stream') return redisUrl(config);
  if (!config.message_queue.url) throw new Error('message_queue.url (or MESSAGE_QUEUE_URL) is required when message_queue.type is "rabbitmq"');
  return config.message_queue.url;
}

/**
 * The core's producer. With a broker and a signing secret key, every run message is signed, so workers that
 * hold the public key run nothing else (the postgres queue needs none: its messages come from the database).
 */
export function createProducer(config: Config, db: Db, applyStatus: (events: StatusEvent[]) => Promise<void>): QueueProducer {
  const kind = queueKind(config);
  if (kind === 'postgres') return createPostgresProducer({ db, applyStatus });
  const options = { url: brokerUrl(config, kind), names: queueNames(config) };
  const producer = kind === 'redis_stream' ? createRedisStreamProducer({ ...options, ...redisTimings(config) }) : createRabbitProducer({ ...options, prefetch: config.message_queue.prefetch_count });
  const { secret } = signingKeys(config);
  return secret ? signingProducer(producer, secret) : producer;
}

/**
 * A worker's consumer, always behind the guard (guarded-consumer.ts): claims are tracked so heartbeats can
 * say which were given up, heartbeats carry the process's incarnation, and run messages from a broker are
 * verified before the worker sees them.
 */
export function createConsumer(config: Config, workerId: string, db: Db | undefined, applyStatus: ((events: StatusEvent[]) => Promise<void>) | undefined, guard: GuardOptions = {}): QueueConsumer {
  const verify = guard.verify ?? verifierFor(config);
  return guardConsumer(createBareConsumer(config, workerId, db, applyStatus), { ...guard, ...(verify ? { verify } : {}) });
}

/** With a broker and a public key, only signed run messages reach the worker. */
function verifierFor(config: Config): GuardOptions['verify'] {
  if (queueKind(config) === 'postgres') return undefined;
  const key = signingKeys(config).public;
  return key ? signatureCheck(key) : undefined;
}

function createBareConsumer(config: Config, workerId: string, db: Db | undefined, applyStatus: ((events: StatusEvent[]) => Promise<void>) | undefined): QueueConsumer {
  const kind = queueKind(config);
  if (kind === 'postgres') {
    if (!db || !applyStatus) throw new Error('the postgres queue needs the database');
    return createPostgresConsumer({ db, applyStatus, workerId });
  }
  const options = { url: brokerUrl(config, kind), names: queueNames(config) };
  if (kind === 'redis_stream') return createRedisStreamConsumer({ ...options, workerId, ...redisTimings(config) });
  return createRabbitConsumer({ ...options, prefetch: config.message_queue.prefetch_count });
}

function redisTimings(config: Config) {
  return {
    readTimeoutMs: config.message_queue.redis.read_timeout_seconds * 1000,
    connectTimeoutMs: config.message_queue.redis.connection_timeout_seconds * 1000,
    claimIdleMs: config.message_queue.consumer_timeout_seconds * 1000,
  };
}
