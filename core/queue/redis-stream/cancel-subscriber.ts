import type { Redis } from 'ioredis';
import { notifyCancel } from '../codec.ts';
import type { Subscription } from '../port.ts';
import { newClient, quit, type ClientTarget } from './client.ts';

/** A worker's cancel handlers, all fed by one subscriber connection opened on the first onCancel(). */
export class CancelSubscriber {
  readonly #target: ClientTarget;
  readonly #name: string;
  readonly #channel: string;
  readonly #handlers = new Set<(runIds: string[]) => void>();
  #sub: Redis | undefined;
  #subscribing: Promise<void> | undefined;

  constructor(target: ClientTarget, name: string, channel: string) {
    this.#target = target;
    this.#name = name;
    this.#channel = channel;
  }

  async add(handler: (runIds: string[]) => void): Promise<Subscription> {
    this.#handlers.add(handler);
    if (!this.#sub) {
      const sub = newClient(this.#target, this.#name, false);
      sub.on('message', (_channel: string, raw: string) => notifyCancel(raw, this.#handlers));
      this.#sub = sub;
      this.#subscribing = sub.subscribe(this.#channel).then(() => {});
    }
    try {
      await this.#subscribing;
    } catch (error) {
      this.#handlers.delete(handler);
      throw error;
    }
    return { close: async () => void this.#handlers.delete(handler) };
  }

  /** Drops every handler at once (synchronously), then closes the connection. */
  close(): Promise<void> {
    this.#handlers.clear();
    return this.#sub ? quit(this.#sub) : Promise.resolve();
  }
}
