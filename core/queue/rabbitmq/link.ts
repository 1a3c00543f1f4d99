/**
 * Reconnects: each side owns one connection (AmqpLink). When the connection or any of its channels closes
 * unexpectedly, the link closes the connection, reconnects with exponential backoff (100 ms .. 10 s),
 * re-declares the topology and re-establishes every consumer (the side's `setup`). Calls in flight on the
 * dead connection reject (the caller retries); deliveries buffered from it are discarded (the broker
 * redelivers them).
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { sleep } from '../codec.ts';

/** One connection generation: everything opened on it dies with it. */
export class Generation {
  readonly model: ChannelModel;
  dead = false;
  readonly #intentional = new WeakSet<Channel>();
  constructor(model: ChannelModel) {
    this.model = model;
  }
  /** A channel whose unexpected close takes the whole connection down, so that the link rebuilds everything. */
  async channel(): Promise<Channel> {
    return this.#guard(await this.model.createChannel());
  }
  async confirmChannel(): Promise<ConfirmChannel> {
    return this.#guard(await this.model.createConfirmChannel());
  }
  #guard<T extends Channel>(ch: T): T {
    ch.on('error', () => {});
    ch.on('close', () => {
      if (!this.#intentional.has(ch)) this.model.close().catch(() => {});
    });
    return ch;
  }
  async closeChannel(ch: Channel): Promise<void> {
    this.#intentional.add(ch);
    await ch.close().catch(() => {});
  }
}

/** A message received on one generation; it can only be acked while that generation lives. */
export interface Buffered<T> {
  gen: Generation;
  ch: Channel;
  msg: ConsumeMessage;
  value: T;
}

/**
 * AMQP heartbeat, in seconds, when the URL names none. Without one the server's 60 s applies, and a host
 * that vanishes without closing its sockets keeps what it was handed (prefetched claim requests, run
 * messages, status batches) for over a minute before the broker gives it to another consumer.
 */
export const DEFAULT_HEARTBEAT_SECONDS = 10;

/** the URL with `heartbeat` set to DEFAULT_HEARTBEAT_SECONDS unless it sets one itself */
export function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('heartbeat')) return url;
  parsed.searchParams.set('heartbeat', String(DEFAULT_HEARTBEAT_SECONDS));
  return parsed.toString();
}

/** A connection that comes back: see the file comment. */
export class AmqpLink {
  readonly #url: string;
  readonly #name: string;
  readonly #waitMs: number;
  readonly #setup: (gen: Generation) => Promise<void>;
  readonly #onLost: (gen: Generation) => void;
  readonly #stop = new AbortController();
  #current: Generation | undefined;
  #connecting: Promise<Generation> | undefined;
  #closed = false;

  constructor(url: string, name: string, waitMs: number, setup: (gen: Generation) => Promise<void>, onLost: (gen: Generation) => void) {
    this.#url = withHeartbeat(url);
    this.#name = name;
    this.#waitMs = waitMs;
    this.#setup = setup;
    this.#onLost = onLost;
  }

  get current(): Generation | undefined {
    return this.#current;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The live generation, connecting if needed. While the broker is unreachable it waits at most the
   * link's unavailableTimeoutMs, then rejects (so the caller retries); reconnecting goes on regardless.
   */
  get(): Promise<Generation> {
    if (this.#closed) return Promise.reject(new Error('rabbitmq connection is closed'));
    if (this.#current && !this.#current.dead) return Promise.resolve(this.#current);
    const connecting = (this.#connecting ??= this.#connectLoop().finally(() => (this.#connecting = undefined)));
    connecting.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`rabbitmq unavailable for ${this.#waitMs} ms`)), this.#waitMs);
    });
    return Promise.race([connecting, timeout]).finally(() => clearTimeout(timer));
  }

  async #connectLoop(): Promise<Generation> {
    let delay = 100;
    for (;;) {
      if (this.#closed) throw new Error('rabbitmq connection is closed');
      let gen: Generation | undefined;
      try {
        // amqplib leaves Nagle's algorithm on: a small frame (a claim, its ack) then waited for the peer's
        // delayed ACK, 40 ms on Linux, and every claim round trip took ~40 ms (1,200 runs/s at concurrency 50).
        const model = await amqp.connect(this.#url, { clientProperties: { connection_name: this.#name }, noDelay: true });
        const created = new Generation(model);
        gen = created;
        model.on('error', () => {});
        model.on('close', () => this.#lost(created));
        if (this.#closed) throw new Error('rabbitmq connection is closed');
        await this.#setup(created);
        if (created.dead) throw new Error('rabbitmq connection closed during setup');
        this.#current = created;
        return created;
      } catch (error) {
        if (gen) await gen.model.close().catch(() => {});
        if (this.#closed) throw error;
        await sleep(delay, this.#stop.signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  #lost(gen: Generation): void {
    if (gen.dead) return;
    gen.dead = true;
    const wasCurrent = this.#current === gen;
    if (wasCurrent) this.#current = undefined;
    this.#onLost(gen);
    // Bring consumers back without waiting for the next call.
    if (wasCurrent && !this.#closed) this.get().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    const gen = this.#current;
    this.#current = undefined;
    if (gen) {
      gen.dead = true;
      this.#onLost(gen);
      await gen.model.close().catch(() => {});
    }
    await this.#connecting?.catch(() => {});
  }
}
