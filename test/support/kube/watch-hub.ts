import type { StoredObject } from './object-store.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: WatchEventType;
  rv: number;
  /** The new state, or for DELETED the last state (carrying the deletion's resourceVersion). */
  current: StoredObject;
  previous: StoredObject | undefined;
}

export interface WatchSubscriber {
  onEvent(event: WatchEvent): void;
}

/**
 * How many events one resource keeps for watches that resume from an older resourceVersion: enough
 * for a benchmark burst, bounded so old object versions do not pile up in memory; beyond it a
 * resume gets 410 Gone and relists, as from a real watch cache.
 */
const HISTORY_LIMIT = 25_000;

/**
 * Event history and live subscribers of one group/resource. Publishing costs one call per subscriber,
 * so 10,000 writes seen by a few watchers stay linear.
 */
export class WatchHub {
  readonly #subscribers = new Set<WatchSubscriber>();
  #history: WatchEvent[] = [];
  /** Highest resourceVersion dropped from history: resuming below it is impossible (410 Gone). */
  #droppedThrough = 0;

  get droppedThrough(): number {
    return this.#droppedThrough;
  }

  publish(event: WatchEvent): void {
    this.#history.push(event);
    if (this.#history.length > HISTORY_LIMIT * 1.5) {
      const dropped = this.#history.length - HISTORY_LIMIT;
      this.#droppedThrough = (this.#history[dropped - 1] as WatchEvent).rv;
      this.#history = this.#history.slice(dropped);
    }
    for (const subscriber of this.#subscribers) subscriber.onEvent(event);
  }

  /** Events after `rv`, oldest first. The caller has already checked that `rv` is not expired. */
  since(rv: number): WatchEvent[] {
    let low = 0;
    let high = this.#history.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#history[middle] as WatchEvent).rv <= rv) low = middle + 1;
      else high = middle;
    }
    return this.#history.slice(low);
  }

  subscribe(subscriber: WatchSubscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }
}
