/**
 * The core's side: publishes run messages and cancels, reads the backlog, consumes status events
 * (status-consumer.ts) and answers claims (claim-server.ts). Both are re-attached on every reconnect.
 */
import type { Channel, ConfirmChannel } from 'amqplib';
import { encodeRunMessage, encodeStatusEvent } from '../codec.ts';
import { cancelEntry, drainSignal, type CancelTarget, type Claim, type QueueProducer, type RunMessage, type StatusEvent, type Subscription } from '../port.ts';
import { ClaimServer } from './claim-server.ts';
import { AmqpLink } from './link.ts';
import type { Generation } from './link.ts';
import type { RabbitQueueOptions } from './options.ts';
import { amqpPriority, JSON_TYPE, publishAll } from './publish.ts';
import { StatusConsumer } from './status-consumer.ts';
import { declareTopology, Names } from './topology.ts';

interface ProducerState {
  gen: Generation;
  pub: ConfirmChannel;
  admin: Channel;
  /** pool queues declared on this generation */
  pools: Set<string>;
}

/** What lives on the producer's connection and must be re-attached after a reconnect. */
interface Attached {
  attach(gen: Generation): Promise<void>;
  lost(gen: Generation): void;
  close(): Promise<void>;
}

export class RabbitProducer implements QueueProducer {
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
    return this.#attach(this.#statusHandlers, new StatusConsumer(this.#names, handler));
  }

  async serveClaims(decide: (claims: Claim[]) => Promise<boolean[]>): Promise<Subscription> {
    return this.#attach(this.#claimServers, new ClaimServer(this.#names, decide));
  }

  /** Registered first, so that a reconnect during attach() re-attaches it; unregistered if attaching fails. */
  async #attach<T extends Attached>(registry: Set<T>, item: T): Promise<Subscription> {
    registry.add(item);
    try {
      const gen = await this.#link.get();
      await item.attach(gen);
    } catch (error) {
      registry.delete(item);
      await item.close();
      throw error;
    }
    return {
      close: async () => {
        registry.delete(item);
        await item.close();
      },
    };
  }

  /** a waiting run needs nothing more: its claim is decided in Postgres, where it is already cancelled */
  async publishCancel(targets: CancelTarget[]): Promise<void> {
    if (targets.length === 0) return;
    const entries = targets.map(cancelEntry);
    const state = await this.#ready();
    await publishAll(state.pub, [() => state.pub.publish(this.#names.cancel, '', Buffer.from(JSON.stringify(entries)), { contentType: JSON_TYPE })]);
  }

  /** a claim here is decided on the run's row (claim-server.ts), which the caller's row lock holds back */
  async withdraw(targets: CancelTarget[]): Promise<CancelTarget[]> {
    return targets;
  }

  async publishDrain(workerId: string): Promise<void> {
    const state = await this.#ready();
    await publishAll(state.pub, [() => state.pub.publish(this.#names.cancel, '', Buffer.from(JSON.stringify([drainSignal(workerId)])), { contentType: JSON_TYPE })]);
  }

  /** on the heartbeat queue, a lone event as a worker sends one (consumer.ts) */
  async probeStatus(at: string): Promise<void> {
    const state = await this.#ready();
    const body = Buffer.from(encodeStatusEvent({ kind: 'probe', at }));
    await publishAll(state.pub, [() => state.pub.sendToQueue(this.#names.heartbeat, body, { persistent: true, contentType: JSON_TYPE })]);
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
