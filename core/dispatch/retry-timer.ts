import type { TimerHandle } from '../clock/index.ts';
import { nextRetryAt } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { promoteDueRuns } from './enqueue.ts';
import { RETRY_SCHEDULED_CHANNEL } from './outcomes.ts';

/**
 * Hands retries to the queue when their backoff ends, with one timer at the earliest one: outcomes announce
 * each new retry's time (RETRY_SCHEDULED_CHANNEL) and, after every hand-off, the store is asked for the next.
 * At start it also takes over whatever a previous leader left: runs never published, retries now due.
 * One per installation: the leader's (leader-work.ts), or a standalone Dispatcher's.
 */
export class RetryTimer {
  readonly #ctx: CoreContext;
  #timer: TimerHandle | undefined;
  #armedAt = Infinity;
  #running = false;
  #busy: Promise<void> = Promise.resolve();
  #unlisten: (() => Promise<void>) | undefined;

  constructor(ctx: CoreContext) {
    this.#ctx = ctx;
  }

  async start(): Promise<void> {
    this.#running = true;
    this.#unlisten = await this.#ctx.db.listen(RETRY_SCHEDULED_CHANNEL, (at) => this.#arm(Number(at)));
    // Queued runs stay where they are: the broker holds them durably, and republishing a whole backlog at
    // every election made a backlog under repeated failovers feed itself. Runs a broker really lost are found
    // by the reaper (republishLost), which publishes again only into an empty broker queue.
    await promoteDueRuns(this.#ctx, { handOffGraceMs: 0 });
    await this.#armNext();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#ctx.clock.clearTimeout(this.#timer);
    await this.#unlisten?.();
    await this.#busy;
  }

  #arm(atMs: number): void {
    if (!this.#running || !Number.isFinite(atMs) || atMs >= this.#armedAt) return;
    this.#ctx.clock.clearTimeout(this.#timer);
    this.#armedAt = atMs;
    const delay = Math.min(Math.max(0, atMs - this.#ctx.now()), 2 ** 31 - 1);
    this.#timer = this.#ctx.clock.setTimeout(() => {
      this.#armedAt = Infinity;
      this.#busy = this.#busy.then(() => this.#handOff());
    }, delay);
  }

  async #handOff(): Promise<void> {
    if (!this.#running) return;
    try {
      await promoteDueRuns(this.#ctx);
      await this.#armNext();
    } catch (error) {
      this.#ctx.logger.error({ err: (error as Error).message }, 'handing due retries to the queue failed; retrying shortly');
      this.#arm(this.#ctx.now() + 1000);
    }
  }

  async #armNext(): Promise<void> {
    const at = await nextRetryAt(this.#ctx.db);
    if (at) this.#arm(at.getTime());
  }
}
