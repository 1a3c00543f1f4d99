import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock/index.ts';
import type { StatusEvent } from '../core/queue/port.ts';

/**
 * Batches a worker's status events and delivers them in order. An outcome is never dropped: when the
 * broker or database is unreachable the batch is retried with backoff until it goes through.
 */
export class StatusOutbox {
  private pending: StatusEvent[] = [];
  private flushing: Promise<void> | undefined;
  private readonly send: (events: StatusEvent[]) => Promise<void>;
  private readonly logger: Logger;
  private closed = false;

  private readonly clock: Clock;

  constructor(send: (events: StatusEvent[]) => Promise<void>, logger: Logger, clock: Clock = systemClock) {
    this.send = send;
    this.logger = logger;
    this.clock = clock;
  }

  /** resolves once this event (and all before it) has been delivered */
  push(event: StatusEvent): Promise<void> {
    this.pending.push(event);
    return this.flush();
  }

  get size(): number {
    return this.pending.length;
  }

  flush(): Promise<void> {
    // Events pushed while a batch is in flight ride on the next batch, right after it.
    this.flushing ??= this.drain();
    return this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      // let events produced in the same turn of the event loop join this batch
      await new Promise((resolve) => setImmediate(resolve));
      let delay = 100;
      while (this.pending.length > 0) {
        const batch = this.pending.slice(0, 500);
        try {
          await this.send(batch);
          this.pending.splice(0, batch.length);
          delay = 100;
        } catch (error) {
          if (this.closed) throw error;
          this.logger.warn({ err: (error as Error).message, events: batch.length }, 'status delivery failed; retrying');
          await this.clock.sleep(delay);
          delay = Math.min(delay * 2, 5000);
        }
      }
    } finally {
      // Cleared in the very step that found nothing pending. Cleared later (a .finally() on the promise,
      // a microtask or more afterwards), an event pushed in between would join a flush that had already
      // ended, and wait in the outbox until some later event came along: with no later event, for ever.
      this.flushing = undefined;
    }
  }

  close(): void {
    this.closed = true;
  }
}
