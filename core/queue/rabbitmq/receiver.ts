/**
 * receive() for a worker: one consumer per pool (prefetch = max(receive max, prefetch)), whose deliveries
 * are buffered here and handed out highest priority first. Poison messages are dead-lettered with a reason.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { byPriorityDesc, decodeRunMessage, sleep } from '../codec.ts';
import type { Delivery, ReceiveOptions } from '../port.ts';
import type { ClaimClient } from './claim-client.ts';
import type { ConsumerState } from './consumer-state.ts';
import { RabbitDelivery } from './delivery.ts';
import type { AmqpLink } from './link.ts';
import { publishAll } from './publish.ts';
import type { Names } from './topology.ts';

const REASON_HEADER = 'x-hourglass-reason';

type PoolBuffer = { items: RabbitDelivery[]; waiters: Set<() => void> };

export interface ReceiverParts {
  names: Names;
  /** the least prefetch of a pool consumer */
  prefetch: number;
  link: AmqpLink;
  claims: ClaimClient;
  /** the consumer's live state, connecting if needed */
  ready(): Promise<ConsumerState>;
}

export class PoolReceiver {
  readonly #p: ReceiverParts;
  /** pool -> effective prefetch, for re-consuming after a reconnect */
  readonly #pools = new Map<string, number>();
  readonly #buffers = new Map<string, PoolBuffer>();

  constructor(parts: ReceiverParts) {
    this.#p = parts;
  }

  async receive(pool: string, options: ReceiveOptions): Promise<Delivery[]> {
    const { max, waitMs, signal } = options;
    if (this.#p.link.closed || max <= 0 || signal?.aborted) return [];
    const deadline = Date.now() + waitMs;
    const buffer = this.#buffer(pool);
    if (!this.#pools.has(pool)) this.#pools.set(pool, Math.max(max, this.#p.prefetch));
    if (!(await this.#started(pool, waitMs, deadline, signal))) return [];
    for (;;) {
      buffer.items = buffer.items.filter((d) => !d.gen.dead);
      if (buffer.items.length > 0) {
        byPriorityDesc(buffer.items);
        return buffer.items.splice(0, max);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted || this.#p.link.closed) return [];
      await arrival(buffer, remaining, signal);
    }
  }

  /** Consumes every pool this worker received from before: called on each new generation. */
  async resume(state: ConsumerState): Promise<void> {
    for (const [pool, prefetch] of this.#pools) await this.#consumePool(state, pool, prefetch);
  }

  /** Deliveries of a dead connection cannot be acked; the broker redelivers them. */
  lost(gen: ConsumerState['gen']): void {
    for (const buffer of this.#buffers.values()) {
      buffer.items = buffer.items.filter((d) => d.gen !== gen);
    }
  }

  /** Wakes every waiting receive, which then sees the link closed. */
  wakeAll(): void {
    for (const buffer of this.#buffers.values()) for (const wake of buffer.waiters) wake();
  }

  clear(): void {
    this.#buffers.clear();
  }

  /** Whether the pool is being consumed; waits for the broker no longer than waitMs. */
  async #started(pool: string, waitMs: number, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      const state = await Promise.race([this.#p.ready(), sleep(waitMs, signal).then(() => undefined)]);
      if (!state) return false;
      await this.#consumePool(state, pool, this.#pools.get(pool) ?? this.#p.prefetch);
      return true;
    } catch {
      // Broker unreachable: an empty receive after a backoff; the link keeps reconnecting.
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
      return false;
    }
  }

  #buffer(pool: string): PoolBuffer {
    let buffer = this.#buffers.get(pool);
    if (!buffer) {
      buffer = { items: [], waiters: new Set() };
      this.#buffers.set(pool, buffer);
    }
    return buffer;
  }

  #consumePool(state: ConsumerState, pool: string, prefetch: number): Promise<Channel> {
    let started = state.pools.get(pool);
    if (started) return started;
    started = (async () => {
      const ch = await state.gen.channel();
      await ch.prefetch(prefetch);
      const queue = this.#p.names.pool(pool);
      await ch.assertQueue(queue, this.#p.names.poolQueueOptions());
      await ch.consume(queue, (msg) => this.#onDelivery(state, ch, pool, msg), { noAck: false });
      return ch;
    })();
    state.pools.set(pool, started);
    started.catch(() => state.pools.delete(pool));
    return started;
  }

  #onDelivery(state: ConsumerState, ch: Channel, pool: string, msg: ConsumeMessage | null): void {
    if (!msg || state.gen.dead) return;
    const decoded = decodeRunMessage(msg.content);
    if (!decoded.ok) {
      void this.#deadLetter(state, ch, msg, decoded.reason);
      return;
    }
    const buffer = this.#buffer(pool);
    buffer.items.push(new RabbitDelivery(this.#p.claims, state.gen, ch, msg, decoded.value));
    for (const wake of buffer.waiters) wake();
  }

  /** Poison: republished to the dead queue with the reason, then the original is acked. */
  async #deadLetter(state: ConsumerState, ch: Channel, msg: ConsumeMessage, reason: string): Promise<void> {
    try {
      await publishAll(state.pub, [
        () =>
          state.pub.sendToQueue(this.#p.names.deadQueue, msg.content, {
            persistent: true,
            contentType: msg.properties.contentType as string | undefined,
            headers: { ...(msg.properties.headers ?? {}), [REASON_HEADER]: reason.slice(0, 1000) },
          }),
      ]);
      ch.ack(msg);
    } catch {
      // Could not republish: reject without requeue, the queue's dead-letter exchange takes it (x-death).
      try {
        if (!state.gen.dead) ch.nack(msg, false, false);
      } catch {
        // channel gone: redelivered, and dead-lettered then
      }
    }
  }
}

/** Until a delivery arrives in the buffer, `remaining` ms passed, or the signal aborted. */
function arrival(buffer: PoolBuffer, remaining: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      buffer.waiters.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, remaining);
    buffer.waiters.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
