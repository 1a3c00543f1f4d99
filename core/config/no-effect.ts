/**
 * Keys from the seed deployment guide (written for a Rust system) that the TypeScript
 * implementation accepts but cannot honour. Setting one is not an error, so a config written for
 * the guide still loads, but it produces a warning with the reason. Documented here, once.
 */
export interface NoEffectKey {
  key: string;
  reason: string;
  /** When given, only values for which this returns true warn (e.g. read_only only when true). */
  when?: (value: unknown) => boolean;
}

const nonEmptyTable = (v: unknown): boolean => typeof v === 'object' && v !== null && Object.keys(v).length > 0;

export const NO_EFFECT_KEYS: readonly NoEffectKey[] = [
  {
    key: 'database.query_cache_size',
    reason: 'node-postgres has no client-side query cache; Postgres caches plans on the server',
  },
  {
    key: 'database.read_only',
    reason: 'every Hourglass mode writes run history, heartbeats or task state, so a read-only primary cannot be used',
    when: (v) => v === true || v === 'true',
  },
  {
    key: 'database.read_replicas',
    reason: 'reads are not routed to replicas yet; all queries go to database.url',
    when: nonEmptyTable,
  },
  {
    key: 'message_queue.max_retries',
    reason: 'a queue message is settled when a worker claims it and an unreadable one is dead-lettered at once, so the queue never retries; run retries are per task (retry.limit)',
  },
  {
    key: 'message_queue.retry_delay_seconds',
    reason: 'retry delays are per task (retry.backoff: initialSeconds, factor, maxSeconds, jitter)',
  },
  {
    key: 'message_queue.publisher_confirms',
    reason: 'publishes always wait for the broker to confirm them: a run counts as queued only once it is safe',
    when: (v) => v === false || v === 'false',
  },
  {
    key: 'message_queue.durable_queues',
    reason: 'queues are always durable and messages persistent: a broker restart must not lose queued runs',
    when: (v) => v === false || v === 'false',
  },
  {
    key: 'message_queue.redis.max_stream_length',
    reason: 'MAXLEN trimming would drop runs not yet delivered; entries are deleted once claimed, so streams hold only waiting runs',
  },
  {
    key: 'message_queue.redis.consumer_group_size',
    reason: 'there is one consumer group per pool and one consumer per worker; the group grows with the number of workers',
  },
  {
    key: 'worker.worker_memory_limit_mb',
    reason: 'Node cannot portably cap a task process\'s memory; set resources.limits.memory on the WorkerPool template or the container',
    when: (v) => v !== 0 && v !== '0',
  },
  {
    key: 'observability.max_log_file_size_mb',
    reason: 'log files are not rotated by Hourglass; use logrotate (copytruncate) or log to stdout and let the platform rotate',
  },
  {
    key: 'observability.max_log_files',
    reason: 'log files are not rotated by Hourglass; use logrotate (copytruncate) or log to stdout and let the platform rotate',
  },
];
