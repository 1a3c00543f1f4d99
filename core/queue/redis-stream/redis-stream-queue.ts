/**
 * redis_stream queue adapter (ioredis, Redis >= 7).
 *
 * Layout, per namespace `ns` (QueueNames.namespace):
 * - `${ns}:${taskQueue}:${pool}:p1|p0|n1`  run messages by priority band (> 0, == 0, < 0), group `workers`
 * - `${ns}:${taskQueue}:dead`               dead-lettered run messages (fields: reason, payload, stream)
 * - `${ns}:${statusQueue}`, `${ns}:${heartbeatQueue}`  status / heartbeat events, group `core`
 * - `${ns}:claim:${runId}:${attempt}`        claim keys (SET NX EX 7 days)
 * - `${ns}:cancel`                           pub/sub channel for cancels
 *
 * Trimming: streams are NOT trimmed with MAXLEN. MAXLEN drops the oldest entries whether or not they were
 * delivered, which would silently lose runs that are still waiting. Instead each run entry is XDEL'd when
 * it is claimed (and each status entry when the core acked it), so streams only hold undelivered or
 * in-flight entries. `maxStreamLength` is accepted for configuration compatibility and only used as a
 * warning threshold in backlog(): it never drops anything.
 *
 * Connections: the producer owns one command connection plus one blocking connection for consumeStatus;
 * the consumer owns one command connection, one blocking connection per pool it receives from, and one
 * subscriber connection for cancels. See clientOptions() for the offline queue / retry choices.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import {
  byPriorityDesc,
  decodeCancel,
  decodeRunMessage,
  decodeStatusEvent,
  encodeRunMessage,
  encodeStatusEvent,
  priorityBand,
  sleep,
} from '../codec.ts';
import type {
  Delivery,
  QueueConsumer,
  QueueNames,
  QueueProducer,
  ReceiveOptions,
  RunMessage,
  StatusEvent,
  Subscription,
} from '../port.ts';

export interface RedisStreamQueueOptions {
  url: string;
  names: QueueNames;
  /** accepted for compatibility; streams are never trimmed with MAXLEN (see the file comment) */
  maxStreamLength?: number;
  /** longest single blocking read (ms); receive() and consumeStatus re-check state at least this often. Default 5000 */
  readTimeoutMs?: number;
  /** entries pending (delivered, not settled) longer than this are handed to another consumer. Default 30000 */
  claimIdleMs?: number;
}

export interface RedisStreamConsumerOptions extends RedisStreamQueueOptions {
  /** the worker's id: its consumer name in the `workers` group */
  workerId: string;
}

const WORKERS_GROUP = 'workers';
const CORE_GROUP = 'core';
const FIELD = 'm';
const CLAIM_TTL_SECONDS = 604_800;
const STATUS_BATCH = 500;
const BANDS = ['p1', 'p0', 'n1'] as const;

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
function clientOptions(name: string, blocking: boolean): RedisOptions {
  return {
    protocol: 2,
    lazyConnect: true,
    connectionName: name,
    enableOfflineQueue: true,
    maxRetriesPerRequest: blocking ? 1 : 5,
    autoResendUnfulfilledCommands: !blocking,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.max(0, times - 1), 5000),
    connectTimeout: 5000,
    ...(blocking ? { blockingTimeout: 60_000 } : {}),
  };
}

function newClient(url: string, name: string, blocking: boolean): Redis {
  const client = new Redis(url, clientOptions(name, blocking));
  // ioredis reconnects on its own; without a listener every transient error is printed as "unhandled".
  client.on('error', () => {});
  return client;
}

function isBusyGroup(error: unknown): boolean {
  return error instanceof Error && error.message.includes('BUSYGROUP');
}

function isNoGroup(error: unknown): boolean {
  return error instanceof Error && (error.message.includes('NOGROUP') || error.message.includes('no such key'));
}

async function createGroup(client: Redis, key: string, group: string): Promise<void> {
  try {
    await client.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM');
  } catch (error) {
    if (!isBusyGroup(error)) throw error;
  }
}

type StreamEntry = { key: string; id: string; fields: string[] | null };

/** Parses an XREADGROUP reply (RESP2): [[key, [[id, [f, v, ...] | null], ...]], ...] | null */
function parseRead(reply: unknown): StreamEntry[] {
  const out: StreamEntry[] = [];
  if (!Array.isArray(reply)) return out;
  for (const stream of reply) {
    if (!Array.isArray(stream)) continue;
    const [key, entries] = stream as [unknown, unknown];
    if (typeof key !== 'string' || !Array.isArray(entries)) continue;
    for (const entry of entries) out.push(toEntry(key, entry));
  }
  return out;
}

function toEntry(key: string, entry: unknown): StreamEntry {
  const [id, fields] = entry as [string, unknown];
  return { key, id: String(id), fields: Array.isArray(fields) ? (fields as unknown[]).map(String) : null };
}

/** Parses an XAUTOCLAIM reply: [next, [[id, fields], ...], deletedIds] */
function parseAutoclaim(key: string, reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) return [];
  return (reply[1] as unknown[]).map((entry) => toEntry(key, entry));
}

function field(fields: string[] | null, name: string): string | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1] ?? null;
  return null;
}

function execErrors(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('redis transaction aborted');
  for (const [error] of results) if (error) throw error;
}

class Keys {
  readonly ns: string;
  readonly names: QueueNames;
  constructor(names: QueueNames) {
    this.names = names;
    this.ns = names.namespace;
  }
  bands(pool: string): [string, string, string] {
    const base = `${this.ns}:${this.names.taskQueue}:${pool}`;
    return [`${base}:${BANDS[0]}`, `${base}:${BANDS[1]}`, `${base}:${BANDS[2]}`];
  }
  band(message: RunMessage): string {
    const band = priorityBand(message.priority);
    return this.bands(message.pool)[band === 1 ? 0 : band === 0 ? 1 : 2];
  }
  get dead(): string {
    return `${this.ns}:${this.names.taskQueue}:dead`;
  }
  get status(): string {
    return `${this.ns}:${this.names.statusQueue}`;
  }
  get heartbeat(): string {
    return `${this.ns}:${this.names.heartbeatQueue}`;
  }
  get statusDead(): string {
    return `${this.ns}:${this.names.statusQueue}:dead`;
  }
  get cancel(): string {
    return `${this.ns}:cancel`;
  }
  claim(runId: string, attempt: number): string {
    return `${this.ns}:claim:${runId}:${attempt}`;
  }
}

// ---------------------------------------------------------------------------------------------- producer

class RedisStreamProducer implements QueueProducer {
  readonly kind = 'redis_stream' as const;
  readonly #options: RedisStreamQueueOptions;
  readonly #keys: Keys;
  readonly #cmd: Redis;
  readonly #groups = new Set<string>();
  readonly #loops = new Set<{ stop(): Promise<void> }>();
  #closed = false;

  constructor(options: RedisStreamQueueOptions) {
    this.#options = options;
    this.#keys = new Keys(options.names);
    this.#cmd = newClient(options.url, `hourglass-core-${process.pid}`, false);
  }

  async #ensureWorkerGroups(pool: string): Promise<void> {
    if (this.#groups.has(pool)) return;
    await Promise.all(this.#keys.bands(pool).map((key) => createGroup(this.#cmd, key, WORKERS_GROUP)));
    this.#groups.add(pool);
  }

  async publish(messages: RunMessage[]): Promise<void> {
    if (this.#closed) throw new Error('redis_stream producer is closed');
    if (messages.length === 0) return;
    // The group is created (id 0) before the first XADD, so backlog() sees the lag from the start.
    for (const pool of new Set(messages.map((m) => m.pool))) await this.#ensureWorkerGroups(pool);
    const pipeline = this.#cmd.pipeline();
    for (const message of messages) pipeline.call('XADD', this.#keys.band(message), '*', FIELD, encodeRunMessage(message));
    const results = await pipeline.exec();
    execErrors(results);
  }

  async backlog(pool: string): Promise<number> {
    let total = 0;
    for (const key of this.#keys.bands(pool)) {
      let groups: unknown;
      try {
        groups = await this.#cmd.call('XINFO', 'GROUPS', key);
      } catch (error) {
        if (isNoGroup(error)) continue; // stream does not exist: nothing waiting
        throw error;
      }
      const info = (Array.isArray(groups) ? groups : [])
        .map((g) => toRecord(g))
        .find((g) => g.name === WORKERS_GROUP);
      const lag = info?.lag;
      if (typeof lag === 'number') {
        total += lag;
        continue;
      }
      // lag is null (or the group is missing): entries in the stream minus those delivered and not yet
      // settled. Settled entries are XDEL'd, so this is exact enough.
      const length = Number(await this.#cmd.xlen(key));
      const pending = typeof info?.pending === 'number' ? info.pending : 0;
      total += Math.max(0, length - pending);
    }
    return total;
  }

  async consumeStatus(handler: (events: StatusEvent[]) => Promise<void>): Promise<Subscription> {
    if (this.#closed) throw new Error('redis_stream producer is closed');
    const keys = this.#keys;
    const consumerName = `core-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const blk = newClient(this.#options.url, `hourglass-core-status-${process.pid}`, true);
    const cmd = this.#cmd;
    const claimIdleMs = this.#options.claimIdleMs ?? 30_000;
    const readTimeoutMs = this.#options.readTimeoutMs !== undefined && this.#options.readTimeoutMs > 0 ? this.#options.readTimeoutMs : 5000;
    const stop = new AbortController();
    const streams = [keys.status, keys.heartbeat];
    await Promise.all(streams.map((key) => createGroup(cmd, key, CORE_GROUP)));

    const loop = (async () => {
      let lastAutoclaim = 0;
      let errorDelay = 100;
      while (!stop.signal.aborted) {
        try {
          let entries: StreamEntry[] = [];
          if (Date.now() - lastAutoclaim >= claimIdleMs / 2) {
            lastAutoclaim = Date.now();
            for (const key of streams) {
              const reply = await cmd.call('XAUTOCLAIM', key, CORE_GROUP, consumerName, claimIdleMs, '0-0', 'COUNT', STATUS_BATCH);
              entries.push(...parseAutoclaim(key, reply));
            }
          }
          if (entries.length === 0) {
            const block = Math.max(1, Math.min(readTimeoutMs, claimIdleMs));
            const reply = await blk.call('XREADGROUP', 'GROUP', CORE_GROUP, consumerName, 'COUNT', STATUS_BATCH, 'BLOCK', block, 'STREAMS', ...streams, '>', '>');
            entries = parseRead(reply);
          }
          errorDelay = 100;
          if (entries.length === 0) continue;
          const events: StatusEvent[] = [];
          const bad: StreamEntry[] = [];
          for (const entry of entries) {
            const decoded = decodeStatusEvent(field(entry.fields, FIELD));
            if (decoded.ok) events.push(decoded.value);
            else if (entry.fields) bad.push(entry);
          }
          if (bad.length > 0) {
            const tx = cmd.multi();
            for (const entry of bad) {
              const reason = decodeStatusEvent(field(entry.fields, FIELD));
              tx.call('XADD', keys.statusDead, '*', 'reason', reason.ok ? '' : reason.reason, 'payload', field(entry.fields, FIELD) ?? '', 'stream', entry.key);
            }
            execErrors(await tx.exec());
          }
          // Hand the batch over until the handler accepts it: never drop, never reorder.
          let delay = 100;
          let handled = events.length === 0;
          while (!handled && !stop.signal.aborted) {
            try {
              await handler(events);
              handled = true;
            } catch {
              await sleep(delay, stop.signal);
              delay = Math.min(delay * 2, 5000);
            }
          }
          if (!handled) break; // closing: left pending, another core consumer XAUTOCLAIMs it
          const ack = cmd.multi();
          for (const key of streams) {
            const ids = entries.filter((e) => e.key === key).map((e) => e.id);
            if (ids.length === 0) continue;
            ack.call('XACK', key, CORE_GROUP, ...ids);
            ack.call('XDEL', key, ...ids);
          }
          execErrors(await ack.exec());
        } catch (error) {
          if (stop.signal.aborted) break;
          if (isNoGroup(error)) await Promise.all(streams.map((key) => createGroup(cmd, key, CORE_GROUP))).catch(() => {});
          await sleep(errorDelay, stop.signal);
          errorDelay = Math.min(errorDelay * 2, 5000);
        }
      }
    })();

    const handle = {
      stop: async () => {
        if (stop.signal.aborted) return;
        stop.abort();
        blk.disconnect();
        await loop;
        this.#loops.delete(handle);
      },
    };
    this.#loops.add(handle);
    return { close: () => handle.stop() };
  }

  /** Redis decides claims itself (SET NX), nothing to serve. */
  async serveClaims(): Promise<Subscription> {
    return { close: async () => {} };
  }

  async publishCancel(runIds: string[]): Promise<void> {
    if (runIds.length === 0) return;
    await this.#cmd.publish(this.#keys.cancel, JSON.stringify(runIds));
  }

  async ping(): Promise<void> {
    await this.#cmd.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#loops].map((l) => l.stop()));
    await quit(this.#cmd);
  }
}

function toRecord(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

async function quit(client: Redis): Promise<void> {
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

// ---------------------------------------------------------------------------------------------- consumer

class RedisDelivery implements Delivery {
  readonly message: RunMessage;
  readonly #consumer: RedisStreamConsumer;
  readonly #key: string;
  readonly #id: string;
  #settled = false;

  constructor(consumer: RedisStreamConsumer, key: string, id: string, message: RunMessage) {
    this.#consumer = consumer;
    this.#key = key;
    this.#id = id;
    this.message = message;
  }

  async claim(workerId: string): Promise<boolean> {
    if (this.#settled) return false;
    // One transaction: the claim key and the settlement of the entry cannot be separated.
    const won = await this.#consumer.settle(this.#key, this.#id, this.message, workerId);
    this.#settled = true;
    return won;
  }
}

class RedisStreamConsumer implements QueueConsumer {
  readonly kind = 'redis_stream' as const;
  readonly #options: RedisStreamConsumerOptions;
  readonly #keys: Keys;
  readonly #cmd: Redis;
  readonly #blocking = new Map<string, { client: Redis; id: number | undefined }>();
  readonly #groups = new Set<string>();
  readonly #lastAutoclaim = new Map<string, number>();
  readonly #leftovers = new Map<string, RedisDelivery[]>();
  readonly #cancelHandlers = new Set<(runIds: string[]) => void>();
  readonly #claimIdleMs: number;
  readonly #readTimeoutMs: number;
  #sub: Redis | undefined;
  #subscribing: Promise<void> | undefined;
  #closed = false;
  readonly #closing = new AbortController();

  constructor(options: RedisStreamConsumerOptions) {
    this.#options = options;
    this.#keys = new Keys(options.names);
    this.#claimIdleMs = options.claimIdleMs ?? 30_000;
    this.#readTimeoutMs = options.readTimeoutMs !== undefined && options.readTimeoutMs > 0 ? options.readTimeoutMs : 5000;
    this.#cmd = newClient(options.url, `hourglass-worker-${options.workerId}`, false);
  }

  async settle(key: string, id: string, message: RunMessage, workerId: string): Promise<boolean> {
    const results = await this.#cmd
      .multi()
      .set(this.#keys.claim(message.runId, message.attempt), workerId, 'EX', CLAIM_TTL_SECONDS, 'NX')
      .call('XACK', key, WORKERS_GROUP, id)
      .call('XDEL', key, id)
      .exec();
    execErrors(results);
    return results?.[0]?.[1] === 'OK';
  }

  async #ensureGroups(pool: string): Promise<void> {
    if (this.#groups.has(pool)) return;
    await Promise.all(this.#keys.bands(pool).map((key) => createGroup(this.#cmd, key, WORKERS_GROUP)));
    this.#groups.add(pool);
  }

  #blockingClient(pool: string): { client: Redis; id: number | undefined } {
    let entry = this.#blocking.get(pool);
    if (!entry) {
      const created: { client: Redis; id: number | undefined } = {
        client: newClient(this.#options.url, `hourglass-worker-${this.#options.workerId}-blk`, true),
        id: undefined,
      };
      created.client.on('ready', () => (created.id = undefined));
      this.#blocking.set(pool, created);
      entry = created;
    }
    return entry;
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
      if (decoded.ok) out.push(new RedisDelivery(this, entry.key, entry.id, decoded.value));
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

  async #autoclaim(pool: string, keys: string[], count: number, out: RedisDelivery[]): Promise<void> {
    const last = this.#lastAutoclaim.get(pool) ?? 0;
    if (Date.now() - last < this.#claimIdleMs / 2) return;
    this.#lastAutoclaim.set(pool, Date.now());
    for (const key of keys) {
      if (out.length >= count) return;
      const reply = await this.#cmd.call('XAUTOCLAIM', key, WORKERS_GROUP, this.#options.workerId, this.#claimIdleMs, '0-0', 'COUNT', count - out.length);
      await this.#accept(parseAutoclaim(key, reply), out);
    }
  }

  async receive(pool: string, options: ReceiveOptions): Promise<Delivery[]> {
    const { max, waitMs, signal } = options;
    if (this.#closed || max <= 0 || signal?.aborted) return [];
    const out: RedisDelivery[] = this.#leftovers.get(pool)?.splice(0, max) ?? [];
    if (out.length >= max) return out;
    const keys = this.#keys.bands(pool);
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
      await this.#ensureGroups(pool);
      for (;;) {
        await this.#autoclaim(pool, keys, max, out);
        // Non-blocking pass, high band first.
        for (const key of keys) {
          if (out.length >= max) break;
          const reply = await this.#cmd.call('XREADGROUP', 'GROUP', WORKERS_GROUP, this.#options.workerId, 'COUNT', max - out.length, 'STREAMS', key, '>');
          await this.#accept(parseRead(reply), out);
        }
        if (out.length > 0 || signal?.aborted || this.#closed) break;
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        // Block on all bands at once; in slices, so that stuck entries are reclaimed while we wait.
        const slice = Math.max(1, Math.min(remaining, this.#claimIdleMs, this.#readTimeoutMs));
        const reply = await this.#blockingRead(pool, keys, max, slice, signal);
        await this.#accept(parseRead(reply), out);
        if (out.length > 0) break;
      }
    } catch (error) {
      if (this.#closed) return this.#finish(pool, out, max);
      if (isNoGroup(error)) this.#groups.delete(pool);
      // Disconnects and other transient errors: an empty (or partial) receive after a backoff.
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal ?? this.#closing.signal);
    }
    return this.#finish(pool, out, max);
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

  async publishStatus(events: StatusEvent[]): Promise<void> {
    if (this.#closed) throw new Error('redis_stream consumer is closed');
    if (events.length === 0) return;
    const pipeline = this.#cmd.pipeline();
    for (const event of events) {
      const key = event.kind === 'heartbeat' ? this.#keys.heartbeat : this.#keys.status;
      pipeline.call('XADD', key, '*', FIELD, encodeStatusEvent(event));
    }
    execErrors(await pipeline.exec());
  }

  async onCancel(handler: (runIds: string[]) => void): Promise<Subscription> {
    if (this.#closed) throw new Error('redis_stream consumer is closed');
    this.#cancelHandlers.add(handler);
    if (!this.#sub) {
      const sub = newClient(this.#options.url, `hourglass-worker-${this.#options.workerId}-sub`, false);
      sub.on('message', (_channel: string, raw: string) => {
        const runIds = decodeCancel(raw);
        if (runIds.length === 0) return;
        for (const h of this.#cancelHandlers) {
          try {
            h(runIds);
          } catch {
            // a failing handler must not stop the others
          }
        }
      });
      this.#sub = sub;
      this.#subscribing = sub.subscribe(this.#keys.cancel).then(() => {});
    }
    try {
      await this.#subscribing;
    } catch (error) {
      this.#cancelHandlers.delete(handler);
      throw error;
    }
    return { close: async () => void this.#cancelHandlers.delete(handler) };
  }

  async ping(): Promise<void> {
    await this.#cmd.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    // Entries read but not claimed stay pending to this consumer name; after claimIdleMs another worker
    // XAUTOCLAIMs them.
    for (const { client } of this.#blocking.values()) client.disconnect();
    this.#blocking.clear();
    this.#leftovers.clear();
    this.#cancelHandlers.clear();
    await Promise.all([quit(this.#cmd), this.#sub ? quit(this.#sub) : Promise.resolve()]);
  }
}

// ---------------------------------------------------------------------------------------------- factories

export function createRedisStreamProducer(options: RedisStreamQueueOptions): QueueProducer {
  return new RedisStreamProducer(options);
}

export function createRedisStreamConsumer(options: RedisStreamConsumerOptions): QueueConsumer {
  if (!options.workerId) throw new Error('redis_stream consumer needs a workerId');
  return new RedisStreamConsumer(options);
}

/**
 * Both sides, created on first access, each with its own connections. `consumer` needs `workerId`.
 */
export function createRedisStreamQueue(options: RedisStreamQueueOptions & { workerId?: string }): {
  readonly producer: QueueProducer;
  readonly consumer: QueueConsumer;
} {
  let producer: QueueProducer | undefined;
  let consumer: QueueConsumer | undefined;
  return {
    get producer() {
      producer ??= createRedisStreamProducer(options);
      return producer;
    },
    get consumer() {
      if (options.workerId === undefined) throw new Error('createRedisStreamQueue: the consumer side needs workerId');
      consumer ??= createRedisStreamConsumer({ ...options, workerId: options.workerId });
      return consumer;
    },
  };
}
