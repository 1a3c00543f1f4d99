import type { QueueNames } from '../port.ts';

export interface RedisStreamQueueOptions {
  url: string;
  names: QueueNames;
  /** how long opening a connection may take. Default 5000 */
  connectTimeoutMs?: number;
  /** longest single blocking read (ms); receive() and consumeStatus re-check state at least this often. Default 5000 */
  readTimeoutMs?: number;
  /** entries pending (delivered, not settled) longer than this are handed to another consumer. Default 30000 */
  claimIdleMs?: number;
}

export interface RedisStreamConsumerOptions extends RedisStreamQueueOptions {
  /** the worker's id: its consumer name in the `workers` group */
  workerId: string;
}

export interface StreamTimings {
  claimIdleMs: number;
  readTimeoutMs: number;
}

/** The one place the timing defaults live; the producer and the consumer both read them from here. */
export function streamTimings(options: RedisStreamQueueOptions): StreamTimings {
  return {
    claimIdleMs: options.claimIdleMs ?? 30_000,
    readTimeoutMs: options.readTimeoutMs !== undefined && options.readTimeoutMs > 0 ? options.readTimeoutMs : 5000,
  };
}
