/**
 * receive() for a worker: stuck entries (XAUTOCLAIM), then a non-blocking pass over the pool's bands, high
 * band first, then one blocking read on all three bands, in slices. Poison entries are dead-lettered and
 * settled on the spot; everything else is handed out as a RedisDelivery, pending until claimed.
 */
import type { Redis } from 'ioredis';
import { byPriorityDesc, decodeRunMessage, sleep } from '../codec.ts';
import type { ReceiveOptions } from '../port.ts';
import { createGroup, execErrors, isNoGroup, newClient } from './client.ts';
import { RedisDelivery } from './delivery.ts';
import { FIELD, WORKERS_GROUP } from './keys.ts';
import type { Keys } from './keys.ts';
import type { RedisStreamConsumerOptions, StreamTimings } from './options.ts';
import { field, parseAutoclaim, parseRead } from './replies.ts';
import type { StreamEntry } from './replies.ts';

/** A pool's blocking connection and its CLIENT ID (for CLIENT UNBLOCK), forgotten on every reconnect. */
type BlockingClient = { client: Redis; id: number | undefined };

export class StreamReceiver {
  readonly #options: RedisStreamConsumerOptions;
  readonly #keys: Keys;
  readonly #cmd: Redis;
  readonly #timings: StreamTimings;
  readonly #blocking = new Map<string, BlockingClient>();
  readonly #groups = new Set<string>();
  readonly #lastAutoclaim = new Map<string, number>();
  readonly #leftovers = new Map<string, RedisDelivery[]>();
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: RedisStreamConsumerOptions, keys: Keys, cmd: Redis, timings: StreamTimings) {
    this.#options = options;
    this.#keys = keys;
    this.#cmd = cmd;
    this.#timings = timings;
  }

  async receive(pool: string, options: ReceiveOptions): Promise<RedisDelivery[]> {
    const { max, waitMs, signal } = options;
    if (this.#closed || max <= 0 || signal?.aborted) return [];
    const out: RedisDelivery[] = this.#leftovers.get(pool)?.splice(0, max) ?? [];
    if (out.length >= max) return out;
    const deadline = Date.now() + waitMs;
    if (this.#cmd.status !== 'ready') {
      // Connecting or reconnecting: wait for Redis no longer than waitMs.
      const up = await Promise.race([this.#cmd.ping().then(() => true, () => false), sleep(waitMs, signal).then(() => false)]);
      if (!up) {
        await sleep(Math.max(0, deadline - Date.now()), signal ?? this.#closing.signal);
        return out;
      }
    }
    try {
      await this.#read(pool, out, max, deadline, signal);
    } catch (error) {
      if (this.#closed) return this.#finish(pool, out, max);
      if (isNoGroup(error)) this.#groups.delete(pool);
      // Disconnects and other transient errors: an empty (or partial) receive after a backoff.
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal ?? this.#closing.signal);
    }
    return this.#finish(pool, out, max);
  }

  /** Entries read but not claimed stay pending to this consumer name; after claimIdleMs another worker XAUTOCLAIMs them. */
  close(): void {
    this.#closed = true;
    this.#closing.abort();
    for (const { client } of this.#blocking.values()) client.disconnect();
    this.#blocking.clear();
    this.#leftovers.clear();
  }

  /** Fills `out` until something arrived, the deadline passed, or receive was aborted. */
  async #read(pool: string, out: RedisDelivery[], max: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const keys = this.#keys.bands(pool);
    await this.#ensureGroups(pool);
    for (;;) {
      await this.#autoclaim(pool, keys, max, out);
      // Non-blocking pass, high band first.
      for (const key of keys) {
        if (out.length >= max) break;
        const reply = await this.#cmd.call('XREADGROUP', 'GROUP', WORKERS_GROUP, this.#options.workerId, 'COUNT', max - out.length, 'STREAMS', key, '>');
        await this.#accept(parseRead(reply), out);
      }
      if (out.length > 0 || signal?.aborted || this.#closed) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return;
      // Block on all bands at once; in slices, so that stuck entries are reclaimed while we wait.
      const slice = Math.max(1, Math.min(remaining, this.#timings.claimIdleMs, this.#timings.readTimeoutMs));
      const reply = await this.#blockingRead(pool, keys, max, slice, signal);
      await this.#accept(parseRead(reply), out);
      if (out.length > 0) return;
    }
  }

  #finish(pool: string, out: RedisDelivery[], max: number): RedisDelivery[] {
    byPriorityDesc(out);
    if (out.length > max) {
      // A blocking read over three streams can return up to COUNT per stream; keep the rest (already
      // pending to this consumer) for the next receive.
      const rest = out.splice(max);
      this.#leftovers.set(pool, [...rest, ...(this.#leftovers.get(pool) ?? [])]);
    }
    return out;
  }

  async #ensureGroups(pool: string): Promise<void> {
    if (this.#groups.has(pool)) return;
    await Promise.all(this.#keys.bands(pool).map((key) => createGroup(this.#cmd, key, WORKERS_GROUP)));
    this.#groups.add(pool);
  }

  /** At most every claimIdleMs / 2 per pool: entries another worker read and never settled. */
  async #autoclaim(pool: string, keys: string[], count: number, out: RedisDelivery[]): Promise<void> {
    const last = this.#lastAutoclaim.get(pool) ?? 0;
    if (Date.now() - last < this.#timings.claimIdleMs / 2) return;
    this.#lastAutoclaim.set(pool, Date.now());
    for (const key of keys) {
      if (out.length >= count) return;
      const reply = await this.#cmd.call('XAUTOCLAIM', key, WORKERS_GROUP, this.#options.workerId, this.#timings.claimIdleMs, '0-0', 'COUNT', count - out.length);
      await this.#accept(parseAutoclaim(key, reply), out);
    }
  }

  /** Turns raw entries into deliveries; poison entries are dead-lettered and settled on the spot. */
  async #accept(entries: StreamEntry[], out: RedisDelivery[]): Promise<void> {
    const poison: { entry: StreamEntry; reason: string }[] = [];
    const gone: StreamEntry[] = [];
    for (const entry of entries) {
      if (entry.fields === null) {
        gone.push(entry); // deleted while pending: nothing to deliver
        continue;
      }
      const decoded = decodeRunMessage(field(entry.fields, FIELD));
      if (decoded.ok) out.push(new RedisDelivery(this.#cmd, this.#keys, entry.key, entry.id, decoded.value));
      else poison.push({ entry, reason: decoded.reason });
    }
    if (poison.length === 0 && gone.length === 0) return;
    const tx = this.#cmd.multi();
    for (const { entry, reason } of poison) {
      tx.call('XADD', this.#keys.dead, '*', 'reason', reason, 'payload', field(entry.fields, FIELD) ?? JSON.stringify(entry.fields), 'stream', entry.key, 'id', entry.id);
      tx.call('XACK', entry.key, WORKERS_GROUP, entry.id);
      tx.call('XDEL', entry.key, entry.id);
    }
    for (const entry of gone) tx.call('XACK', entry.key, WORKERS_GROUP, entry.id);
    execErrors(await tx.exec());
  }

  async #blockingRead(pool: string, keys: string[], count: number, blockMs: number, signal?: AbortSignal): Promise<unknown> {
    const blk = this.#blockingClient(pool);
    if (blk.id === undefined) blk.id = Number(await blk.client.call('CLIENT', 'ID'));
    const clientId = blk.id;
    const onAbort = (): void => {
      // Wakes the blocked XREADGROUP as if it had timed out.
      this.#cmd.call('CLIENT', 'UNBLOCK', clientId, 'TIMEOUT').catch(() => {});
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await blk.client.call('XREADGROUP', 'GROUP', WORKERS_GROUP, this.#options.workerId, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', ...keys, '>', '>', '>');
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #blockingClient(pool: string): BlockingClient {
    let entry = this.#blocking.get(pool);
    if (!entry) {
      const created: BlockingClient = {
        client: newClient(this.#options, `hourglass-worker-${this.#options.workerId}-blk`, true),
        id: undefined,
      };
      created.client.on('ready', () => (created.id = undefined));
      this.#blocking.set(pool, created);
      entry = created;
    }
    return entry;
  }
}
