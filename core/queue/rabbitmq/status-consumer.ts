import type { Channel, ConsumeMessage } from 'amqplib';
import { decodeStatusEvents, retryUntilAccepted, sleep } from '../codec.ts';
import type { StatusEvent } from '../port.ts';
import type { Buffered, Generation } from './link.ts';
import type { Names } from './topology.ts';

const STATUS_BATCH = 500;
const STATUS_GATHER_MS = 10;

/**
 * consumeStatus: status + heartbeat queues on one channel, handed over in batches, acked after the handler.
 * A message holds one event or an array of them (a worker's outbox batch); it is acked once, as a whole.
 */
export class StatusConsumer {
  readonly #names: Names;
  readonly #handler: (events: StatusEvent[]) => Promise<void>;
  readonly #buffer: Buffered<StatusEvent[]>[] = [];
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
      const decoded = decodeStatusEvents(msg.content);
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

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel && !channel.gen.dead) await channel.gen.closeChannel(channel.ch);
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (this.#buffer.length === 0) {
        await this.#idle(signal);
        continue;
      }
      // Gather for a moment, so that a burst becomes one handler call.
      if (this.#buffer.length < STATUS_BATCH) await sleep(STATUS_GATHER_MS, signal);
      const batch = this.#take();
      const events = batch.flatMap((b) => b.value);
      const handled = await retryUntilAccepted(
        () => this.#handler(events),
        () => !signal.aborted && batch.some((b) => !b.gen.dead),
        signal,
      );
      if (handled) ack(batch); // otherwise closing, or the connection died: the broker redelivers
    }
  }

  /** Whole messages, up to STATUS_BATCH events (at least one message). */
  #take(): Buffered<StatusEvent[]>[] {
    let events = 0;
    let count = 0;
    while (count < this.#buffer.length && (count === 0 || events + (this.#buffer[count] as Buffered<StatusEvent[]>).value.length <= STATUS_BATCH)) {
      events += (this.#buffer[count] as Buffered<StatusEvent[]>).value.length;
      count += 1;
    }
    return this.#buffer.splice(0, count);
  }

  /** Until a message arrives or the consumer closes. */
  async #idle(signal: AbortSignal): Promise<void> {
    let onAbort: () => void = () => {};
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    // one listener per idle spell would otherwise pile up for the life of the process
    signal.removeEventListener('abort', onAbort);
    this.#wake = undefined;
  }
}

function ack(batch: Buffered<StatusEvent[]>[]): void {
  for (const b of batch) {
    if (b.gen.dead) continue;
    try {
      b.ch.ack(b.msg);
    } catch {
      // channel gone: redelivered
    }
  }
}
