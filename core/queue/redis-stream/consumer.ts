/**
 * A worker's side: receives run messages (receiver.ts), publishes status events, listens for cancels
 * (cancel-subscriber.ts). Owns one command connection, one blocking connection per pool it receives from,
 * and one subscriber connection for cancels.
 */
import type { Redis } from 'ioredis';
import { encodeStatusEvent } from '../codec.ts';
import { drainedWorkers, type Delivery, type QueueConsumer, type ReceiveOptions, type StatusEvent, type Subscription } from '../port.ts';
import { CancelSubscriber } from './cancel-subscriber.ts';
import { execErrors, newClient, quit } from './client.ts';
import { FIELD, Keys } from './keys.ts';
import { streamTimings } from './options.ts';
import type { RedisStreamConsumerOptions } from './options.ts';
import { StreamReceiver } from './receiver.ts';

export class RedisStreamConsumer implements QueueConsumer {
  readonly kind = 'redis_stream' as const;
  readonly #keys: Keys;
  readonly #cmd: Redis;
  readonly #receiver: StreamReceiver;
  readonly #cancels: CancelSubscriber;
  #closed = false;

  constructor(options: RedisStreamConsumerOptions) {
    this.#keys = new Keys(options.names);
    this.#cmd = newClient(options, `hourglass-worker-${options.workerId}`, false);
    this.#receiver = new StreamReceiver(options, this.#keys, this.#cmd, streamTimings(options));
    this.#cancels = new CancelSubscriber(options, `hourglass-worker-${options.workerId}-sub`, this.#keys.cancel);
  }

  receive(pool: string, options: ReceiveOptions): Promise<Delivery[]> {
    return this.#receiver.receive(pool, options);
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
    return this.#cancels.add(handler);
  }

  onDrain(handler: (workerId: string) => void): Promise<Subscription> {
    return this.onCancel((entries) => drainedWorkers(entries).forEach((id) => handler(id)));
  }

  async ping(): Promise<void> {
    await this.#cmd.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#receiver.close();
    await Promise.all([quit(this.#cmd), this.#cancels.close()]);
  }
}
