/**
 * rabbitmq queue adapter (amqplib).
 *
 * Topology, per namespace `ns` (QueueNames.namespace), all durable:
 * - queue `${ns}.${taskQueue}.${pool}`   run messages; x-max-priority 10, x-dead-letter-exchange `${ns}.dead`
 * - exchange `${ns}.dead` (fanout) -> queue `${ns}.${taskQueue}.dead`   dead-lettered run messages
 * - queue `${ns}.claims`                  claim RPCs, answered by the core (producer.serveClaims)
 * - queues `${ns}.${statusQueue}`, `${ns}.${heartbeatQueue}`   status / heartbeat events to the core
 * - exchange `${ns}.cancel` (fanout)      cancels; each consumer binds an exclusive auto-delete queue
 *
 * Reconnects: each side owns one connection (AmqpLink). When the connection or any of its channels closes
 * unexpectedly, the link closes the connection, reconnects with exponential backoff (100 ms .. 10 s),
 * re-declares the topology and re-establishes every consumer. Calls in flight on the dead connection reject
 * (the caller retries); deliveries buffered from it are discarded (the broker redelivers them).
 */
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { byPriorityDesc, decodeCancel, decodeClaim, decodeRunMessage, decodeStatusEvent, encodeRunMessage, encodeStatusEvent, sleep } from '../codec.ts';
import type {
  Claim,
  Delivery,
  QueueConsumer,
  QueueNames,
  QueueProducer,
  ReceiveOptions,
  RunMessage,
  StatusEvent,
  Subscription,
} from '../port.ts';

export interface RabbitQueueOptions {
  url: string;
  names: QueueNames;
  /** least prefetch of a worker's pool consumer; the effective one is max(receive max, prefetch). Default 10 */
  prefetch?: number;
  /** how long claim() waits for the core's answer before throwing. Default 10000 */
  claimTimeoutMs?: number;
  /**
   * how long a call (publish, publishStatus, backlog, ...) waits for the broker while disconnected before it
   * rejects; reconnecting goes on in the background. Default 5000
   */
  unavailableTimeoutMs?: number;
}

const REPLY_TO = 'amq.rabbitmq.reply-to';
const REASON_HEADER = 'x-hourglass-reason';
const STATUS_BATCH = 500;
const STATUS_GATHER_MS = 10;
const CLAIM_BATCH = 200;
const CLAIM_GATHER_MS = 5;
const JSON_TYPE = 'application/json';

/** Maps priority -100..100 onto AMQP 0..9, monotonically, keeping the three bands apart: <0 -> 0..3, 0 -> 4, >0 -> 5..9. */
export function amqpPriority(priority: number): number {
  const p = Math.max(-100, Math.min(100, Math.trunc(priority)));
  if (p > 0) return 5 + Math.min(4, Math.floor(((p - 1) * 5) / 100));
  if (p < 0) return 3 - Math.min(3, Math.floor(((-p - 1) * 4) / 100));
  return 4;
}

class Names {
  readonly n: QueueNames;
  constructor(names: QueueNames) {
    this.n = names;
  }
  pool(pool: string): string {
    return `${this.n.namespace}.${this.n.taskQueue}.${pool}`;
  }
  get deadExchange(): string {
    return `${this.n.namespace}.dead`;
  }
  get deadQueue(): string {
    return `${this.n.namespace}.${this.n.taskQueue}.dead`;
  }
  get claims(): string {
    return `${this.n.namespace}.claims`;
  }
  get status(): string {
    return `${this.n.namespace}.${this.n.statusQueue}`;
  }
  get heartbeat(): string {
    return `${this.n.namespace}.${this.n.heartbeatQueue}`;
  }
  get cancel(): string {
    return `${this.n.namespace}.cancel`;
  }
  poolQueueOptions(): { durable: true; arguments: Record<string, unknown> } {
    return { durable: true, arguments: { 'x-max-priority': 10, 'x-dead-letter-exchange': this.deadExchange } };
  }
}

async function declareTopology(ch: Channel, names: Names): Promise<void> {
  await ch.assertExchange(names.deadExchange, 'fanout', { durable: true });
  await ch.assertQueue(names.deadQueue, { durable: true });
  await ch.bindQueue(names.deadQueue, names.deadExchange, '');
  await ch.assertExchange(names.cancel, 'fanout', { durable: true });
  await ch.assertQueue(names.claims, { durable: true });
  await ch.assertQueue(names.status, { durable: true });
  await ch.assertQueue(names.heartbeat, { durable: true });
}

/** One connection generation: everything opened on it dies with it. */
class Generation {
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

/** A connection that comes back: see the file comment. */
class AmqpLink {
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
    this.#url = url;
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
        const model = await amqp.connect(this.#url, { clientProperties: { connection_name: this.#name } });
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

async function publishAll(ch: ConfirmChannel, sends: Array<() => boolean>): Promise<void> {
  for (const send of sends) {
    // Respect back-pressure: amqplib buffers without bound otherwise.
    if (!send()) await Promise.race([once(ch, 'drain'), once(ch, 'close').then(() => Promise.reject(new Error('channel closed')))]);
  }
  await ch.waitForConfirms();
}

// ---------------------------------------------------------------------------------------------- producer

interface ProducerState {
  gen: Generation;
  pub: ConfirmChannel;
  admin: Channel;
  pools: Set<string>;
}

interface Buffered<T> {
  gen: Generation;
  ch: Channel;
  msg: ConsumeMessage;
  value: T;
}

class RabbitProducer implements QueueProducer {
  readonly kind = 'rabbitmq' as const;
  readonly #names: Names;
  readonly #link: AmqpLink;
  #state: ProducerState | undefined;
  readonly #statusHandlers = new Set<StatusConsumer>();
  readonly #claimServers = new Set<ClaimServer>();

  constructor(options: RabbitQueueOptions) {
    this.#names = new Names(options.names);
    this.#link = new AmqpLink(
      options.url,
      `hourglass-core ${options.names.namespace} ${process.pid}`,
      options.unavailableTimeoutMs ?? 5000,
      async (gen) => {
        const pub = await gen.confirmChannel();
        const admin = await gen.channel();
        await declareTopology(pub, this.#names);
        this.#state = { gen, pub, admin, pools: new Set() };
        for (const s of this.#statusHandlers) await s.attach(gen);
        for (const s of this.#claimServers) await s.attach(gen);
      },
      (gen) => {
        for (const s of this.#statusHandlers) s.lost(gen);
        for (const s of this.#claimServers) s.lost(gen);
      },
    );
  }

  async #ready(): Promise<ProducerState> {
    const gen = await this.#link.get();
    const state = this.#state;
    if (!state || state.gen !== gen) throw new Error('rabbitmq connection changed, retry');
    return state;
  }

  async #ensurePool(state: ProducerState, pool: string): Promise<void> {
    if (state.pools.has(pool)) return;
    await state.pub.assertQueue(this.#names.pool(pool), this.#names.poolQueueOptions());
    state.pools.add(pool);
  }

  async publish(messages: RunMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const state = await this.#ready();
    for (const pool of new Set(messages.map((m) => m.pool))) await this.#ensurePool(state, pool);
    await publishAll(
      state.pub,
      messages.map((message) => () =>
        state.pub.sendToQueue(this.#names.pool(message.pool), Buffer.from(encodeRunMessage(message)), {
          persistent: true,
          priority: amqpPriority(message.priority),
          contentType: JSON_TYPE,
          messageId: `${message.runId}:${message.attempt}`,
        }),
      ),
    );
  }

  async backlog(pool: string): Promise<number> {
    const state = await this.#ready();
    // assertQueue with the pool's own arguments: checkQueue would close the channel if it does not exist yet.
    const reply = await state.admin.assertQueue(this.#names.pool(pool), this.#names.poolQueueOptions());
    state.pools.add(pool);
    return reply.messageCount;
  }

  async consumeStatus(handler: (events: StatusEvent[]) => Promise<void>): Promise<Subscription> {
    const consumer = new StatusConsumer(this.#names, handler);
    this.#statusHandlers.add(consumer);
    try {
      const gen = await this.#link.get();
      await consumer.attach(gen);
    } catch (error) {
      this.#statusHandlers.delete(consumer);
      await consumer.close();
      throw error;
    }
    return {
      close: async () => {
        this.#statusHandlers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async serveClaims(decide: (claims: Claim[]) => Promise<boolean[]>): Promise<Subscription> {
    const server = new ClaimServer(this.#names, decide);
    this.#claimServers.add(server);
    try {
      const gen = await this.#link.get();
      await server.attach(gen);
    } catch (error) {
      this.#claimServers.delete(server);
      await server.close();
      throw error;
    }
    return {
      close: async () => {
        this.#claimServers.delete(server);
        await server.close();
      },
    };
  }

  async publishCancel(runIds: string[]): Promise<void> {
    if (runIds.length === 0) return;
    const state = await this.#ready();
    await publishAll(state.pub, [() => state.pub.publish(this.#names.cancel, '', Buffer.from(JSON.stringify(runIds)), { contentType: JSON_TYPE })]);
  }

  async ping(): Promise<void> {
    const state = await this.#ready();
    await state.admin.checkExchange(this.#names.cancel);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#statusHandlers, ...this.#claimServers].map((s) => s.close()));
    this.#statusHandlers.clear();
    this.#claimServers.clear();
    await this.#link.close();
  }
}

/** consumeStatus: status + heartbeat queues on one channel, handed over in batches, acked after the handler. */
class StatusConsumer {
  readonly #names: Names;
  readonly #handler: (events: StatusEvent[]) => Promise<void>;
  readonly #buffer: Buffered<StatusEvent>[] = [];
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  #channel: { gen: Generation; ch: Channel } | undefined;
  readonly #loop: Promise<void>;

  constructor(names: Names, handler: (events: StatusEvent[]) => Promise<void>) {
    this.#names = names;
    this.#handler = handler;
    this.#loop = this.#run();
  }

  async attach(gen: Generation): Promise<void> {
    if (this.#stop.signal.aborted || this.#channel?.gen === gen) return;
    const ch = await gen.channel();
    await ch.prefetch(STATUS_BATCH * 2);
    this.#channel = { gen, ch };
    const onMessage = (msg: ConsumeMessage | null): void => {
      if (!msg) return;
      const decoded = decodeStatusEvent(msg.content);
      if (!decoded.ok) {
        ch.nack(msg, false, false); // nothing to do with it; dropped (no DLX on status queues)
        return;
      }
      this.#buffer.push({ gen, ch, msg, value: decoded.value });
      this.#wake?.();
    };
    await ch.consume(this.#names.status, onMessage, { noAck: false });
    await ch.consume(this.#names.heartbeat, onMessage, { noAck: false });
  }

  lost(gen: Generation): void {
    // Unacked deliveries of a dead connection come back from the broker.
    for (let i = this.#buffer.length - 1; i >= 0; i--) if (this.#buffer[i]?.gen === gen) this.#buffer.splice(i, 1);
    if (this.#channel?.gen === gen) this.#channel = undefined;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (this.#buffer.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.#wake = undefined;
        continue;
      }
      if (this.#buffer.length < STATUS_BATCH) await sleep(STATUS_GATHER_MS, signal);
      const batch = this.#buffer.splice(0, STATUS_BATCH);
      let delay = 100;
      let handled = false;
      while (!signal.aborted && batch.some((b) => !b.gen.dead)) {
        try {
          await this.#handler(batch.map((b) => b.value));
          handled = true;
          break;
        } catch {
          // Retry the very same batch: later events of the same run must not overtake it.
          await sleep(delay, signal);
          delay = Math.min(delay * 2, 5000);
        }
      }
      if (!handled) continue; // closing, or the connection died: the broker redelivers
      for (const b of batch) {
        if (b.gen.dead) continue;
        try {
          b.ch.ack(b.msg);
        } catch {
          // channel gone: redelivered
        }
      }
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel && !channel.gen.dead) await channel.gen.closeChannel(channel.ch);
  }
}

/** serveClaims: gathers claim RPCs for a few ms (or 200), one decide() per batch, replies, then acks. */
class ClaimServer {
  readonly #names: Names;
  readonly #decide: (claims: Claim[]) => Promise<boolean[]>;
  #pending: Buffered<Claim>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #channel: { gen: Generation; ch: Channel } | undefined;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(names: Names, decide: (claims: Claim[]) => Promise<boolean[]>) {
    this.#names = names;
    this.#decide = decide;
  }

  async attach(gen: Generation): Promise<void> {
    if (this.#closed || this.#channel?.gen === gen) return;
    const ch = await gen.channel();
    await ch.prefetch(CLAIM_BATCH * 2);
    this.#channel = { gen, ch };
    await ch.consume(
      this.#names.claims,
      (msg) => {
        if (!msg) return;
        const decoded = decodeClaim(msg.content);
        if (!decoded.ok || !msg.properties.replyTo) {
          ch.ack(msg); // unanswerable; the worker times out and its delivery comes back
          return;
        }
        this.#pending.push({ gen, ch, msg, value: decoded.value });
        if (this.#pending.length >= CLAIM_BATCH) this.#flush();
        else this.#timer ??= setTimeout(() => this.#flush(), CLAIM_GATHER_MS);
      },
      { noAck: false },
    );
  }

  lost(gen: Generation): void {
    this.#pending = this.#pending.filter((p) => p.gen !== gen);
    if (this.#channel?.gen === gen) this.#channel = undefined;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending.splice(0, CLAIM_BATCH);
    if (batch.length === 0) return;
    if (this.#pending.length > 0) this.#timer = setTimeout(() => this.#flush(), CLAIM_GATHER_MS);
    // Batches are decided one after another, so two claims of one attempt are never decided concurrently here.
    this.#chain = this.#chain.then(() => this.#answer(batch));
  }

  async #answer(batch: Buffered<Claim>[]): Promise<void> {
    let answers: boolean[];
    try {
      answers = await this.#decide(batch.map((b) => b.value));
      if (answers.length !== batch.length) throw new Error('decide() returned a different number of answers');
    } catch {
      await sleep(200);
      for (const b of batch) {
        try {
          if (!b.gen.dead) b.ch.nack(b.msg, false, true);
        } catch {
          // channel gone: redelivered
        }
      }
      return;
    }
    batch.forEach((b, i) => {
      if (b.gen.dead) return;
      try {
        b.ch.sendToQueue(b.msg.properties.replyTo as string, Buffer.from(JSON.stringify({ granted: answers[i] === true })), {
          correlationId: b.msg.properties.correlationId as string | undefined,
          contentType: JSON_TYPE,
        });
        b.ch.ack(b.msg);
      } catch {
        // channel gone: the worker times out and its delivery comes back
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel && !channel.gen.dead) await channel.gen.closeChannel(channel.ch);
  }
}

// ---------------------------------------------------------------------------------------------- consumer

interface ConsumerState {
  gen: Generation;
  /** publishing (status, claims, dead letters) and the direct reply-to consumer */
  pub: ConfirmChannel;
  pools: Map<string, Promise<Channel>>;
  cancel: Promise<void> | undefined;
}

interface PendingClaim {
  resolve(granted: boolean): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

class RabbitDelivery implements Delivery {
  readonly message: RunMessage;
  readonly gen: Generation;
  readonly ch: Channel;
  readonly msg: ConsumeMessage;
  readonly #consumer: RabbitConsumer;
  #settled = false;

  constructor(consumer: RabbitConsumer, gen: Generation, ch: Channel, msg: ConsumeMessage, message: RunMessage) {
    this.#consumer = consumer;
    this.gen = gen;
    this.ch = ch;
    this.msg = msg;
    this.message = message;
  }

  async claim(workerId: string): Promise<boolean> {
    if (this.#settled) return false;
    if (this.gen.dead) throw new Error('rabbitmq connection lost before the claim; the message is redelivered');
    let granted: boolean;
    try {
      granted = await this.#consumer.askClaim(this.gen, { runId: this.message.runId, attempt: this.message.attempt, workerId });
    } catch (error) {
      // No answer: give the message back so it is delivered again (to this or another worker).
      try {
        if (!this.gen.dead) this.ch.nack(this.msg, false, true);
      } catch {
        // channel gone: redelivered anyway
      }
      this.#settled = true;
      throw error;
    }
    this.#settled = true;
    try {
      this.ch.ack(this.msg);
    } catch {
      // The decision is the core's and is final; a redelivered copy will be refused and acked.
    }
    return granted;
  }
}

class RabbitConsumer implements QueueConsumer {
  readonly kind = 'rabbitmq' as const;
  readonly #names: Names;
  readonly #prefetch: number;
  readonly #claimTimeoutMs: number;
  readonly #link: AmqpLink;
  #state: ConsumerState | undefined;
  /** pool -> effective prefetch, for re-consuming after a reconnect */
  readonly #pools = new Map<string, number>();
  readonly #buffers = new Map<string, { items: RabbitDelivery[]; waiters: Set<() => void> }>();
  readonly #cancelHandlers = new Set<(runIds: string[]) => void>();
  readonly #claims = new Map<string, PendingClaim>();

  constructor(options: RabbitQueueOptions) {
    this.#names = new Names(options.names);
    this.#prefetch = options.prefetch ?? 10;
    this.#claimTimeoutMs = options.claimTimeoutMs ?? 10_000;
    this.#link = new AmqpLink(
      options.url,
      `hourglass-worker ${options.names.namespace} ${process.pid}`,
      options.unavailableTimeoutMs ?? 5000,
      async (gen) => {
        const pub = await gen.confirmChannel();
        await declareTopology(pub, this.#names);
        // Direct reply-to: consume the pseudo-queue (noAck) on the channel that publishes the claims.
        await pub.consume(REPLY_TO, (msg) => this.#onReply(msg), { noAck: true });
        const state: ConsumerState = { gen, pub, pools: new Map(), cancel: undefined };
        this.#state = state;
        for (const [pool, prefetch] of this.#pools) await this.#consumePool(state, pool, prefetch);
        if (this.#cancelHandlers.size > 0) await this.#consumeCancel(state);
      },
      (gen) => this.#lost(gen),
    );
  }

  #lost(gen: Generation): void {
    for (const buffer of this.#buffers.values()) {
      buffer.items = buffer.items.filter((d) => d.gen !== gen);
    }
    for (const [id, pending] of this.#claims) {
      clearTimeout(pending.timer);
      pending.reject(new Error('rabbitmq connection lost while waiting for a claim answer'));
      this.#claims.delete(id);
    }
    if (this.#state?.gen === gen) this.#state = undefined;
  }

  async #ready(): Promise<ConsumerState> {
    const gen = await this.#link.get();
    const state = this.#state;
    if (!state || state.gen !== gen) throw new Error('rabbitmq connection changed, retry');
    return state;
  }

  #buffer(pool: string): { items: RabbitDelivery[]; waiters: Set<() => void> } {
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
      const queue = this.#names.pool(pool);
      await ch.assertQueue(queue, this.#names.poolQueueOptions());
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
    buffer.items.push(new RabbitDelivery(this, state.gen, ch, msg, decoded.value));
    for (const wake of buffer.waiters) wake();
  }

  /** Poison: republished to the dead queue with the reason, then the original is acked. */
  async #deadLetter(state: ConsumerState, ch: Channel, msg: ConsumeMessage, reason: string): Promise<void> {
    try {
      await publishAll(state.pub, [
        () =>
          state.pub.sendToQueue(this.#names.deadQueue, msg.content, {
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

  #onReply(msg: ConsumeMessage | null): void {
    if (!msg) return;
    const id = msg.properties.correlationId as string | undefined;
    const pending = id ? this.#claims.get(id) : undefined;
    if (!id || !pending) return; // late answer to a claim that timed out
    this.#claims.delete(id);
    clearTimeout(pending.timer);
    try {
      const answer = JSON.parse(msg.content.toString('utf8')) as { granted?: unknown };
      pending.resolve(answer.granted === true);
    } catch {
      pending.reject(new Error('unreadable claim answer'));
    }
  }

  async askClaim(gen: Generation, claim: Claim): Promise<boolean> {
    const state = this.#state;
    if (!state || state.gen !== gen || gen.dead) throw new Error('rabbitmq connection lost before the claim');
    const correlationId = randomUUID();
    const answer = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#claims.delete(correlationId);
        reject(new Error(`no answer to the claim of ${claim.runId}/${claim.attempt} within ${this.#claimTimeoutMs} ms`));
      }, this.#claimTimeoutMs);
      this.#claims.set(correlationId, { resolve, reject, timer });
    });
    answer.catch(() => {});
    state.pub.sendToQueue(this.#names.claims, Buffer.from(JSON.stringify(claim)), {
      replyTo: REPLY_TO,
      correlationId,
      contentType: JSON_TYPE,
    });
    return answer;
  }

  async receive(pool: string, options: ReceiveOptions): Promise<Delivery[]> {
    const { max, waitMs, signal } = options;
    if (this.#link.closed || max <= 0 || signal?.aborted) return [];
    const deadline = Date.now() + waitMs;
    const buffer = this.#buffer(pool);
    if (!this.#pools.has(pool)) this.#pools.set(pool, Math.max(max, this.#prefetch));
    try {
      // Wait for the broker no longer than waitMs.
      const state = await Promise.race([this.#ready(), sleep(waitMs, signal).then(() => undefined)]);
      if (!state) return [];
      await this.#consumePool(state, pool, this.#pools.get(pool) ?? this.#prefetch);
    } catch {
      // Broker unreachable: an empty receive after a backoff; the link keeps reconnecting.
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
      return [];
    }
    for (;;) {
      buffer.items = buffer.items.filter((d) => !d.gen.dead);
      if (buffer.items.length > 0) {
        byPriorityDesc(buffer.items);
        return buffer.items.splice(0, max);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted || this.#link.closed) return [];
      await new Promise<void>((resolve) => {
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
  }

  async publishStatus(events: StatusEvent[]): Promise<void> {
    if (events.length === 0) return;
    const state = await this.#ready();
    await publishAll(
      state.pub,
      events.map((event) => () =>
        state.pub.sendToQueue(event.kind === 'heartbeat' ? this.#names.heartbeat : this.#names.status, Buffer.from(encodeStatusEvent(event)), {
          persistent: true,
          contentType: JSON_TYPE,
        }),
      ),
    );
  }

  #consumeCancel(state: ConsumerState): Promise<void> {
    state.cancel ??= (async () => {
      const ch = await state.gen.channel();
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      await ch.bindQueue(queue, this.#names.cancel, '');
      await ch.consume(
        queue,
        (msg) => {
          if (!msg) return;
          const runIds = decodeCancel(msg.content);
          if (runIds.length === 0) return;
          for (const handler of this.#cancelHandlers) {
            try {
              handler(runIds);
            } catch {
              // one failing handler must not starve the others
            }
          }
        },
        { noAck: true },
      );
    })();
    const started = state.cancel;
    started.catch(() => {
      if (state.cancel === started) state.cancel = undefined;
    });
    return started;
  }

  async onCancel(handler: (runIds: string[]) => void): Promise<Subscription> {
    this.#cancelHandlers.add(handler);
    try {
      const state = await this.#ready();
      await this.#consumeCancel(state);
    } catch (error) {
      this.#cancelHandlers.delete(handler);
      throw error;
    }
    return { close: async () => void this.#cancelHandlers.delete(handler) };
  }

  async ping(): Promise<void> {
    const state = await this.#ready();
    await state.pub.checkExchange(this.#names.cancel);
  }

  async close(): Promise<void> {
    // Closing the connection returns every unacked delivery to its queue.
    for (const buffer of this.#buffers.values()) for (const wake of buffer.waiters) wake();
    await this.#link.close();
    this.#buffers.clear();
  }
}

// ---------------------------------------------------------------------------------------------- factories

export function createRabbitProducer(options: RabbitQueueOptions): QueueProducer {
  return new RabbitProducer(options);
}

export function createRabbitConsumer(options: RabbitQueueOptions): QueueConsumer {
  return new RabbitConsumer(options);
}

/** Both sides, created on first access, each with its own connection (opened on first use). */
export function createRabbitQueue(options: RabbitQueueOptions): { readonly producer: QueueProducer; readonly consumer: QueueConsumer } {
  let producer: QueueProducer | undefined;
  let consumer: QueueConsumer | undefined;
  return {
    get producer() {
      producer ??= createRabbitProducer(options);
      return producer;
    },
    get consumer() {
      consumer ??= createRabbitConsumer(options);
      return consumer;
    },
  };
}
