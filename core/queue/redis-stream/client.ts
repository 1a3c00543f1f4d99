/** ioredis connections: their offline-queue and retry settings, closing them, and the group and error helpers. */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

/**
 * Offline queue and retries. Commands issued while the connection is down wait in ioredis' offline queue,
 * but only for `maxRetriesPerRequest` (5) reconnection attempts (~100+200+400+800+1600 ms), then they
 * reject with MaxRetriesPerRequestError: publish() and claim() therefore fail within a few seconds and the
 * caller retries, instead of queueing forever. Reconnection itself never stops (exponential, capped at 5 s).
 * Blocking connections do not resend an interrupted XREADGROUP after a reconnect
 * (autoResendUnfulfilledCommands: false), so no orphaned read is left blocked on the server holding entries.
 * ioredis then neither resends nor rejects that read: `blockingTimeout` is what settles it (as a timeout,
 * null) at BLOCK + grace, so a receive interrupted by a disconnect returns [] within its block slice
 * (readTimeoutMs at most). Later reads wait in the offline queue and reject after 1 failed reconnection
 * (receive() catches, backs off, returns []).
 */
function clientOptions(name: string, blocking: boolean, connectTimeoutMs: number): RedisOptions {
  return {
    protocol: 2,
    lazyConnect: true,
    connectionName: name,
    enableOfflineQueue: true,
    maxRetriesPerRequest: blocking ? 1 : 5,
    autoResendUnfulfilledCommands: !blocking,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.max(0, times - 1), 5000),
    connectTimeout: connectTimeoutMs,
    // Commands issued in one turn of the event loop (a worker's claims, a batch's acks) leave in one socket
    // write: per-command writes were the largest single CPU cost of a busy worker (issue 7 profile).
    ...(blocking ? { blockingTimeout: 60_000 } : { enableAutoPipelining: true }),
  };
}

/** where to connect: the URL and [message_queue.redis] connection_timeout_seconds */
export interface ClientTarget {
  url: string;
  connectTimeoutMs?: number;
}

export function newClient(target: ClientTarget, name: string, blocking: boolean): Redis {
  const client = new Redis(target.url, clientOptions(name, blocking, target.connectTimeoutMs ?? 5000));
  // ioredis reconnects on its own; without a listener every transient error is printed as "unhandled".
  client.on('error', () => {});
  return client;
}

export async function quit(client: Redis): Promise<void> {
  if (client.status === 'wait' || client.status === 'end') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function isBusyGroup(error: unknown): boolean {
  return error instanceof Error && error.message.includes('BUSYGROUP');
}

export function isNoGroup(error: unknown): boolean {
  return error instanceof Error && (error.message.includes('NOGROUP') || error.message.includes('no such key'));
}

/** Creates the group (and the stream) from id 0; an existing group is fine. */
export async function createGroup(client: Redis, key: string, group: string): Promise<void> {
  try {
    await client.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM');
  } catch (error) {
    if (!isBusyGroup(error)) throw error;
  }
}

/** A MULTI/pipeline reply: throws the first command error, or when the transaction was aborted. */
export function execErrors(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('redis transaction aborted');
  for (const [error] of results) if (error) throw error;
}
