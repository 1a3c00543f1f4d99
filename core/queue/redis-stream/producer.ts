/**
 * The core's side: publishes run messages into the pool's band streams, measures the backlog, consumes
 * status events (status-consumer.ts) and publishes cancels. Owns one command connection, plus one blocking
 * connection per consumeStatus.
 */
import type { Redis } from 'ioredis';
import { encodeRunMessage, encodeStatusEvent } from '../codec.ts';
import { cancelEntry, drainSignal, type CancelTarget, type QueueProducer, type RunMessage, type StatusEvent, type Subscription } from '../port.ts';
import { createGroup, execErrors, isNoGroup, newClient, quit } from './client.ts';
import { CANCELLED_CLAIM, CLAIM_TTL_SECONDS, FIELD, Keys, WORKERS_GROUP } from './keys.ts';
import { streamTimings } from './options.ts';
import type { RedisStreamQueueOptions } from './options.ts';
import { toRecord } from './replies.ts';
import { startStatusLoop } from './status-consumer.ts';

export class RedisStreamProducer implements QueueProducer {
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
    this.#cmd = newClient(options, `hourglass-core-${process.pid}`, false);
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
    for (const key of this.#keys.bands(pool)) total += await this.#waiting(key);
    return total;
  }

  /** Entries of one band stream not yet delivered to any worker. */
  async #waiting(key: string): Promise<number> {
    let groups: unknown;
    try {
      groups = await this.#cmd.call('XINFO', 'GROUPS', key);
    } catch (error) {
      if (isNoGroup(error)) return 0; // stream does not exist: nothing waiting
      throw error;
    }
    const info = (Array.isArray(groups) ? groups : [])
      .map((g) => toRecord(g))
      .find((g) => g.name === WORKERS_GROUP);
    const lag = info?.lag;
    if (typeof lag === 'number') return lag;
    // lag is null (or the group is missing): entries in the stream minus those delivered and not yet
    // settled. Settled entries are XDEL'd, so this is exact enough.
    const length = Number(await this.#cmd.xlen(key));
    const pending = typeof info?.pending === 'number' ? info.pending : 0;
    return Math.max(0, length - pending);
  }

  async probeStatus(at: string): Promise<void> {
    if (this.#closed) throw new Error('redis_stream producer is closed');
    await this.#cmd.call('XADD', this.#keys.heartbeat, '*', FIELD, encodeStatusEvent({ kind: 'probe', at }));
  }

  async consumeStatus(handler: (events: StatusEvent[]) => Promise<void>): Promise<Subscription> {
    if (this.#closed) throw new Error('redis_stream producer is closed');
    const loop = await startStatusLoop(this.#cmd, this.#options, this.#keys, streamTimings(this.#options), handler);
    const handle = {
      stop: async () => {
        if (loop.stopped) return;
        await loop.stop();
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

  /**
   * A claim here is decided by Redis alone, so a cancelled run still waiting in a stream must lose it:
   * the cancel takes the claim key first (NX: an attempt already claimed keeps its owner and is aborted
   * through the cancel message instead).
   */
  async publishCancel(targets: CancelTarget[]): Promise<void> {
    if (targets.length === 0) return;
    const tx = this.#cmd.multi();
    for (const t of targets) tx.set(this.#keys.claim(t), CANCELLED_CLAIM, 'EX', CLAIM_TTL_SECONDS, 'NX');
    execErrors(await tx.exec());
    await this.#cmd.publish(this.#keys.cancel, JSON.stringify(targets.map(cancelEntry)));
  }

  /**
   * A claim here is decided by Redis alone, so a row that still says queued proves nothing: the attempt is
   * withdrawn only if the cancel takes its claim key (or took it before: a retried call); one a worker already
   * claimed keeps its owner, and its `started` event is on its way to the core.
   */
  async withdraw(targets: CancelTarget[]): Promise<CancelTarget[]> {
    if (targets.length === 0) return [];
    const tx = this.#cmd.multi();
    for (const t of targets) tx.set(this.#keys.claim(t), CANCELLED_CLAIM, 'EX', CLAIM_TTL_SECONDS, 'NX').get(this.#keys.claim(t));
    const replies = await tx.exec();
    execErrors(replies);
    // each target's GET answers who holds its claim key now (SET NX GET in one command needs Redis 7)
    return targets.filter((_, i) => replies?.[2 * i + 1]?.[1] === CANCELLED_CLAIM);
  }

  async publishDrain(workerId: string): Promise<void> {
    await this.#cmd.publish(this.#keys.cancel, JSON.stringify([drainSignal(workerId)]));
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
