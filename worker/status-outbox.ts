import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock/index.ts';
import type { StatusEvent } from '../core/queue/port.ts';

type Heartbeat = Extract<StatusEvent, { kind: 'heartbeat' }>;

/** A heartbeat waiting in the outbox: built only when its batch is sent, so it says how things are then. */
interface HeartbeatSlot {
  kind: 'heartbeat-slot';
  build: () => Heartbeat;
}

type Entry = StatusEvent | HeartbeatSlot;

/**
 * Batches a worker's status events and delivers them in order. An outcome is never dropped: when the
 * broker or database is unreachable the batch is retried with backoff until it goes through.
 *
 * Heartbeats that say the worker lives travel on a lane of their own: behind an outcome whose write waits
 * (a row lock held by a vanished host's transaction, a slow broker) they told the core nothing, and a live
 * worker was declared dead and its successes run again (chaos on postgres, issue 12). Overtaking is safe: a
 * heartbeat lists as held every attempt whose outcome is not delivered yet, and the core never fails an
 * attempt because a heartbeat leaves it out (issue 12 defect 1). The goodbye (DOWN) goes in order, behind
 * every outcome, so the core never reads DOWN before them. A heartbeat still waiting is replaced by a newer
 * one (it only says how the worker is), so an outage does not pile them up.
 */
export class StatusOutbox {
  private pending: Entry[] = [];
  /** entries at the head of `pending` that belong to the batch being sent */
  private inFlight = 0;
  private flushing: Promise<void> | undefined;
  private readonly send: (events: StatusEvent[]) => Promise<void>;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private closed = false;
  /** the newest liveness heartbeat not yet sent on the lane */
  private laneSlot: HeartbeatSlot | undefined;
  private laneFlushing: Promise<void> | undefined;

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

  /**
   * Sends a liveness heartbeat on the lane, ahead of outcomes still waiting; `build` runs when it is sent.
   * `inOrder` (the goodbye) queues it behind everything pushed so far instead.
   */
  pushHeartbeat(build: () => Heartbeat, options: { inOrder?: boolean } = {}): Promise<void> {
    if (!options.inOrder) {
      this.laneSlot = { kind: 'heartbeat-slot', build };
      this.laneFlushing ??= this.drainLane();
      return this.laneFlushing;
    }
    this.pending = this.pending.filter((entry, index) => index < this.inFlight || entry.kind !== 'heartbeat-slot');
    this.pending.push({ kind: 'heartbeat-slot', build });
    return this.flush();
  }

  /** resolves once no liveness heartbeat is waiting or in flight (so none can land after the goodbye) */
  laneIdle(): Promise<void> {
    return this.laneFlushing ?? Promise.resolve();
  }

  get size(): number {
    return this.pending.length;
  }

  /** "runId/attempt" of the outcomes not yet delivered: the worker still answers for these attempts */
  undeliveredOutcomes(): string[] {
    return this.pending.flatMap((entry) => (entry.kind === 'finished' ? [`${entry.runId}/${entry.attempt}`] : []));
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
        this.inFlight = batch.length;
        try {
          await this.send(batch.map((entry) => (entry.kind === 'heartbeat-slot' ? entry.build() : entry)));
          this.pending.splice(0, batch.length);
          delay = 100;
        } catch (error) {
          if (this.closed) throw error;
          this.logger.warn({ err: (error as Error).message, events: batch.length }, 'status delivery failed; retrying');
          await this.clock.sleep(delay);
          delay = Math.min(delay * 2, 5000);
        } finally {
          this.inFlight = 0;
        }
      }
    } finally {
      // Cleared in the very step that found nothing pending. Cleared later (a .finally() on the promise,
      // a microtask or more afterwards), an event pushed in between would join a flush that had already
      // ended, and wait in the outbox until some later event came along: with no later event, for ever.
      this.flushing = undefined;
    }
  }

  private async drainLane(): Promise<void> {
    try {
      let delay = 100;
      while (this.laneSlot) {
        const slot = this.laneSlot;
        this.laneSlot = undefined;
        try {
          await this.send([slot.build()]);
          delay = 100;
        } catch (error) {
          if (this.closed) throw error;
          this.laneSlot ??= slot; // a newer heartbeat, if one came meanwhile, says more
          this.logger.warn({ err: (error as Error).message }, 'heartbeat delivery failed; retrying');
          await this.clock.sleep(delay);
          delay = Math.min(delay * 2, 5000);
        }
      }
    } finally {
      this.laneFlushing = undefined;
    }
  }

  close(): void {
    this.closed = true;
  }
}
