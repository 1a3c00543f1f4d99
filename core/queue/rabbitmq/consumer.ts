/**
 * A worker's side, on one reconnecting connection: receives run messages (receiver.ts), claims them over
 * RPC (claim-client.ts), publishes status events and listens for cancels (cancel-listener.ts).
 */
import { encodeStatusEvent } from '../codec.ts';
import { drainedWorkers, type Delivery, type QueueConsumer, type ReceiveOptions, type StatusEvent, type Subscription } from '../port.ts';
import { CancelListener } from './cancel-listener.ts';
import { ClaimClient } from './claim-client.ts';
import type { ConsumerState } from './consumer-state.ts';
import { AmqpLink } from './link.ts';
import type { Generation } from './link.ts';
import type { RabbitQueueOptions } from './options.ts';
import { JSON_TYPE, publishAll } from './publish.ts';
import { PoolReceiver } from './receiver.ts';
import { declareTopology, Names } from './topology.ts';

export class RabbitConsumer implements QueueConsumer {
  readonly kind = 'rabbitmq' as const;
  readonly #names: Names;
  readonly #link: AmqpLink;
  readonly #claims: ClaimClient;
  readonly #receiver: PoolReceiver;
  readonly #cancels: CancelListener;
  #state: ConsumerState | undefined;

  constructor(options: RabbitQueueOptions) {
    this.#names = new Names(options.names);
    this.#claims = new ClaimClient(this.#names, options.claimTimeoutMs ?? 10_000, () => this.#state);
    this.#cancels = new CancelListener(this.#names);
    this.#link = new AmqpLink(
      options.url,
      `hourglass-worker ${options.names.namespace} ${process.pid}`,
      options.unavailableTimeoutMs ?? 5000,
      (gen) => this.#setup(gen),
      (gen) => this.#lost(gen),
    );
    this.#receiver = new PoolReceiver({
      names: this.#names,
      prefetch: options.prefetch ?? 10,
      link: this.#link,
      claims: this.#claims,
      ready: () => this.#ready(),
    });
  }

  /** Runs on every (re)connect: topology, the reply-to consumer, then every consumer this worker had. */
  async #setup(gen: Generation): Promise<void> {
    const pub = await gen.confirmChannel();
    await declareTopology(pub, this.#names);
    await this.#claims.listen(pub);
    const state: ConsumerState = { gen, pub, pools: new Map(), cancel: undefined };
    this.#state = state;
    await this.#receiver.resume(state);
    if (this.#cancels.handlers.size > 0) await this.#cancels.listen(state);
  }

  #lost(gen: Generation): void {
    this.#receiver.lost(gen);
    this.#claims.rejectAll();
    if (this.#state?.gen === gen) this.#state = undefined;
  }

  async #ready(): Promise<ConsumerState> {
    const gen = await this.#link.get();
    const state = this.#state;
    if (!state || state.gen !== gen) throw new Error('rabbitmq connection changed, retry');
    return state;
  }

  receive(pool: string, options: ReceiveOptions): Promise<Delivery[]> {
    return this.#receiver.receive(pool, options);
  }

  /**
   * Heartbeats and the other events each go as one message holding the array: a worker's outbox flush is one
   * publish and one confirm, and one ack for the core, instead of one of each per event.
   */
  async publishStatus(events: StatusEvent[]): Promise<void> {
    if (events.length === 0) return;
    const state = await this.#ready();
    const beats = events.filter((e) => e.kind === 'heartbeat');
    const others = events.filter((e) => e.kind !== 'heartbeat');
    const sends: Array<() => boolean> = [];
    for (const [queue, batch] of [[this.#names.heartbeat, beats], [this.#names.status, others]] as const) {
      for (const body of packEvents(batch)) sends.push(() => state.pub.sendToQueue(queue, body, { persistent: true, contentType: JSON_TYPE }));
    }
    await publishAll(state.pub, sends);
  }

  async onCancel(handler: (runIds: string[]) => void): Promise<Subscription> {
    this.#cancels.handlers.add(handler);
    try {
      const state = await this.#ready();
      await this.#cancels.listen(state);
    } catch (error) {
      this.#cancels.handlers.delete(handler);
      throw error;
    }
    return { close: async () => void this.#cancels.handlers.delete(handler) };
  }

  onDrain(handler: (workerId: string) => void): Promise<Subscription> {
    return this.onCancel((entries) => drainedWorkers(entries).forEach((id) => handler(id)));
  }

  async ping(): Promise<void> {
    const state = await this.#ready();
    await state.pub.checkExchange(this.#names.cancel);
  }

  async close(): Promise<void> {
    // Closing the connection returns every unacked delivery to its queue.
    this.#receiver.wakeAll();
    await this.#link.close();
    this.#receiver.clear();
  }
}

/** a message's events stop growing past this size (outputs can be large) */
const MAX_PACKED_BYTES = 256 * 1024;

/** Events as JSON arrays of bounded size, in order. */
function packEvents(events: StatusEvent[]): Buffer[] {
  const bodies: Buffer[] = [];
  let part: string[] = [];
  let size = 0;
  for (const event of events) {
    const json = encodeStatusEvent(event);
    if (part.length > 0 && size + json.length > MAX_PACKED_BYTES) {
      bodies.push(packed(part));
      part = [];
      size = 0;
    }
    part.push(json);
    size += json.length + 1;
  }
  if (part.length > 0) bodies.push(packed(part));
  return bodies;
}

/** A lone event goes bare, as before batching: a core not yet upgraded still reads heartbeats and single events. */
function packed(part: string[]): Buffer {
  return Buffer.from(part.length === 1 ? (part[0] as string) : `[${part.join(',')}]`);
}
