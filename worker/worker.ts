import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../core/clock/index.ts';
import { parseCancelEntry, type Delivery, type QueueConsumer, type RunMessage, type StatusEvent, type Subscription } from '../core/queue/port.ts';
import type { ExecutorRegistry } from './executors/registry.ts';
import { RunStop, type ExecutionResult } from './executors/types.ts';
import { runDeadline, within } from './run-deadline.ts';
import { LiveLog } from './live-log.ts';
import { StatusOutbox } from './status-outbox.ts';
import { resolveSpecSecrets } from '../core/config/index.ts';

export interface WorkerOptions {
  workerId: string;
  pool: string;
  concurrency: number;
  heartbeatIntervalMs: number;
  drainTimeoutMs: number;
  outputLimitBytes: number;
  version: string;
  /** how long one receive blocks when the queue is empty */
  pollWaitMs?: number;
  /** called once per executed attempt (metrics) */
  onFinished?: (message: RunMessage, result: ExecutionResult, durationMs: number) => void;
  /** time and timers (heartbeats, run timeouts, drain deadline); default systemClock */
  clock?: Clock;
}

interface ActiveRun {
  message: RunMessage;
  /** aborted with a RunStop: cancelled, or interrupted by shutdown */
  abort: AbortController;
  done: Promise<void>;
}

/** What a run stopped at shutdown reports: failed and retryable, as if the worker had died (issue 12 defect 7). */
export const SHUTDOWN_REASON = 'interrupted by worker shutdown';
const OUTBOX_HIGH_WATER = 2000;
const FINAL_FLUSH_MS = 10_000;
/** attempts remembered against duplicate copies: far more than a worker receives while a copy can linger */
const STARTED_MEMORY = 100_000;

/**
 * Takes runs from its pool's queue, up to `concurrency` at once, claims each attempt before executing
 * it, and reports started/finished/log events and heartbeats. On stop() it takes no more work and
 * lets what it holds finish within the drain timeout; what is still running then is stopped and
 * reported failed (retryable), so the core retries it as it would after a crash.
 */
export class Worker {
  private readonly active = new Map<string, ActiveRun>();
  /** deliveries being claimed: each may become an active run, so each holds a slot meanwhile */
  private readonly accepting = new Set<Promise<void>>();
  /** "runId/attempt" of the attempts this worker started lately, oldest first */
  private readonly started = new Set<string>();
  private readonly outbox: StatusOutbox;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private heartbeat: TimerHandle | undefined;
  private cancelSub: Subscription | undefined;
  private drainSub: Subscription | undefined;
  private stopRequested = false;
  private slotFreed: (() => void) | undefined;
  private readonly startedAt: string;
  private readonly clock: Clock;
  private status: 'ALIVE' | 'DRAINING' | 'DOWN' = 'ALIVE';
  private readonly consumer: QueueConsumer;
  private readonly registry: ExecutorRegistry;
  private readonly options: WorkerOptions;
  private readonly logger: Logger;

  constructor(consumer: QueueConsumer, registry: ExecutorRegistry, options: WorkerOptions, logger: Logger) {
    this.consumer = consumer;
    this.registry = registry;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.startedAt = new Date(this.clock.now()).toISOString();
    this.logger = logger.child({ workerId: options.workerId, pool: options.pool });
    this.outbox = new StatusOutbox((events) => consumer.publishStatus(events), this.logger, this.clock);
  }

  /** status events waiting in the outbox (a publish failed and is retried), for the simulator's quiescence test */
  get undeliveredEvents(): number {
    return this.outbox.size;
  }

  get activeRuns(): number {
    return this.active.size;
  }

  async start(): Promise<void> {
    this.cancelSub = await this.consumer.onCancel((runIds) => this.cancel(runIds));
    this.drainSub = await this.consumer.onDrain((workerId) => {
      if (workerId === this.options.workerId) void this.drain();
    });
    // the first heartbeat registers the worker: nothing precedes it, so it need not wait in the outbox
    try {
      await this.consumer.publishStatus([this.heartbeatEvent()]);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
    }
    this.heartbeat = this.clock.setInterval(() => this.queueHeartbeat(), this.options.heartbeatIntervalMs);
    this.loop = this.receiveLoop();
    this.logger.info({ concurrency: this.options.concurrency, types: this.registry.types() }, 'worker started');
  }

  /**
   * Drains on request (POST /api/workers/{id}/drain): takes no more runs and lets the ones it holds finish,
   * however long they take; reports DRAINING at once. The process stays up until it is stopped.
   */
  async drain(): Promise<void> {
    if (this.status !== 'ALIVE') return;
    this.status = 'DRAINING';
    this.logger.info({ runs: this.active.size }, 'draining on request: taking no more runs');
    this.stopping.abort();
    this.slotFreed?.();
    this.queueHeartbeat();
    await this.loop;
  }

  async stop(): Promise<void> {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.status = 'DRAINING';
    this.stopping.abort();
    this.slotFreed?.();
    await this.loop;
    this.queueHeartbeat();
    const drained = Promise.all([...this.active.values()].map((run) => run.done));
    if ((await within(this.clock, drained, this.options.drainTimeoutMs)) === 'timeout') {
      this.logger.warn({ runs: this.active.size }, 'drain timeout: stopping runs still active; they are reported failed and retried');
      for (const run of this.active.values()) run.abort.abort(new RunStop('shutdown', SHUTDOWN_REASON));
      await drained;
    }
    this.clock.clearInterval(this.heartbeat);
    // no liveness heartbeat may land after the goodbye and make the worker look alive again
    await within(this.clock, this.outbox.laneIdle(), FINAL_FLUSH_MS);
    this.status = 'DOWN';
    // behind every outcome in the outbox: the core never reads DOWN before the outcomes (issue 12 defect 1)
    this.queueHeartbeat({ inOrder: true });
    // bounded: with the broker or database down, shutdown must still end; the reaper settles the rest
    const flushed = (await within(this.clock, this.outbox.flush(), FINAL_FLUSH_MS)) !== 'timeout';
    if (!flushed) {
      this.logger.error({ events: this.outbox.size }, 'status events still undelivered at shutdown; the reaper will fail and retry their attempts');
      this.outbox.close();
    }
    await this.cancelSub?.close();
    await this.drainSub?.close();
    this.logger.info('worker stopped');
  }

  /** entries "runId/attempt" stop that attempt only; a bare run id (an older core) stops the run's attempt */
  private cancel(entries: string[]): void {
    for (const entry of entries) {
      const { runId, attempt } = parseCancelEntry(entry);
      const run = this.active.get(runId);
      if (run && (attempt === undefined || run.message.attempt === attempt)) run.abort.abort(new RunStop('cancelled', 'cancelled'));
    }
  }

  private async receiveLoop(): Promise<void> {
    let backoff = 100;
    while (!this.stopping.signal.aborted) {
      const free = this.options.concurrency - this.active.size - this.accepting.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      let deliveries: Delivery[];
      try {
        deliveries = await this.consumer.receive(this.options.pool, { max: free, waitMs: this.options.pollWaitMs ?? 1000, signal: this.stopping.signal });
        backoff = 100;
      } catch (error) {
        this.logger.warn({ err: (error as Error).message }, 'receive failed; retrying');
        await this.clock.sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      // Claims that take a round trip (redis_stream, rabbitmq) are not waited for: the next receive overlaps
      // them, while the slots they may take stay reserved until they are settled. Claims settled at once
      // (postgres: the receive was the claim) are, so that the next receive asks for every free slot.
      const batch: Promise<void>[] = [];
      for (const delivery of deliveries) {
        const accepting: Promise<void> = this.accept(delivery)
          .catch((error: unknown) => this.logger.error({ runId: delivery.message.runId, err: (error as Error).message }, 'accepting a run failed'))
          .finally(() => {
            this.accepting.delete(accepting);
            this.slotFreed?.();
            this.slotFreed = undefined;
          });
        this.accepting.add(accepting);
        batch.push(accepting);
      }
      if (batch.length > 0) await Promise.race([Promise.all(batch), new Promise((resolve) => setImmediate(resolve))]);
    }
    // whoever awaits the loop (drain, stop) then sees every attempt this worker took in `active`
    await Promise.all(this.accepting);
  }

  private async accept(delivery: Delivery): Promise<void> {
    const { message } = delivery;
    let owned: boolean;
    try {
      owned = await delivery.claim(this.options.workerId);
    } catch (error) {
      this.logger.warn({ runId: message.runId, err: (error as Error).message }, 'claim failed; the queue will deliver the run again');
      return;
    }
    if (!owned) {
      this.logger.debug({ runId: message.runId, attempt: message.attempt }, 'attempt already claimed elsewhere; dropped');
      return;
    }
    // A broker can hold two copies of an attempt (a new leader republishes queued runs), and rabbitmq grants
    // a claim again to the worker that holds it (for a claim whose answer was lost): so a second copy
    // reaching this worker is granted too. An attempt this worker has started is never started again here.
    const key = `${message.runId}/${message.attempt}`;
    if (this.started.has(key)) {
      this.logger.debug({ runId: message.runId, attempt: message.attempt }, 'second copy of an attempt this worker started; dropped');
      return;
    }
    this.started.add(key);
    if (this.started.size > STARTED_MEMORY) this.started.delete(this.started.values().next().value as string);
    const abort = new AbortController();
    const run: ActiveRun = { message, abort, done: Promise.resolve() };
    this.active.set(message.runId, run);
    run.done = this.execute(message, abort).finally(() => {
      this.active.delete(message.runId);
      this.slotFreed?.();
      this.slotFreed = undefined;
    });
  }

  /**
   * An attempt is always reported finished, even when the executor throws. The worker owns the attempt's
   * deadlines: one signal aborts on cancel, shutdown or timeout (on the worker's clock), with a RunStop
   * reason saying which; executors only react to it.
   */
  private async execute(message: RunMessage, cancel: AbortController): Promise<void> {
    const { workerId } = this.options;
    // no started event: every queue records the start with the claim (port.ts)
    let result: ExecutionResult;
    const startedMs = performance.now();
    const timeoutMs = message.timeoutSeconds * 1000;
    const { signal, dispose } = runDeadline(this.clock, timeoutMs, cancel.signal);
    const executor = this.registry.get(message.type);
    if (!executor) {
      result = {
        status: 'failed',
        error: `no executor for task type "${message.type}" on worker ${workerId} (has: ${this.registry.types().join(', ')})`,
        output: '',
        outputTruncated: false,
        retryable: false,
      };
    } else {
      const log = new LiveLog(message, this.options.outputLimitBytes, this.clock, (event) => {
        this.outbox.push(event).catch(() => {});
      });
      try {
        // secret references (secretEnv, secretHeaders) are read here, on the worker, and nowhere else
        result = await executor.execute(resolveSpecSecrets(message.spec), {
          runId: message.runId,
          attempt: message.attempt,
          taskName: message.taskName,
          shard: message.shard,
          shardTotal: message.shardTotal,
          scheduledTime: message.scheduledTime,
          timeoutMs,
          signal,
          outputLimitBytes: this.options.outputLimitBytes,
          onOutput: (stream, chunk) => log.write(stream, chunk),
        });
      } catch (error) {
        result = { status: 'failed', error: `executor error: ${(error as Error).message}`, output: '', outputTruncated: false };
      }
    }
    dispose();
    // A run stopped by the worker's own shutdown did not fail on its merits: failed and retryable, as kill -9
    // would have left it (the reaper fails and retries it), never `cancelled`, which is final.
    const reason: unknown = signal.reason;
    if (signal.aborted && reason instanceof RunStop && reason.kind === 'shutdown' && result.status !== 'succeeded') {
      result = { ...result, status: 'failed', error: `${SHUTDOWN_REASON} (worker ${workerId})`, retryable: true };
    }
    this.options.onFinished?.(message, result, performance.now() - startedMs);
    // The slot frees as soon as the outcome is in the outbox, so receiving and status writes overlap;
    // past OUTBOX_HIGH_WATER events the worker waits for the outbox, so memory stays bounded.
    const delivered = this.outbox.push({
      kind: 'finished',
      runId: message.runId,
      attempt: message.attempt,
      workerId,
      at: new Date(this.clock.now()).toISOString(),
      status: result.status,
      exitCode: result.exitCode ?? null,
      httpStatus: result.httpStatus ?? null,
      error: result.error ?? null,
      output: result.output,
      ...(result.retryable === false ? { retryable: false } : {}),
    });
    if (this.outbox.size > OUTBOX_HIGH_WATER) await delivered;
    else delivered.catch(() => {}); // the outbox retries until delivered; it only gives up once closed
  }

  /**
   * Sends a heartbeat, on the outbox's own lane unless `inOrder` (then behind the outcomes already in the
   * outbox). It lists as held the attempts running and those whose outcome is not delivered yet: until the
   * core has the outcome, the worker answers for it.
   */
  private queueHeartbeat(options: { inOrder?: boolean } = {}): void {
    this.outbox.pushHeartbeat(() => this.heartbeatEvent(), options).catch((error: unknown) => {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
    });
  }

  private heartbeatEvent(): Extract<StatusEvent, { kind: 'heartbeat' }> {
    const held = new Set([...this.active.values()].map((run) => `${run.message.runId}/${run.message.attempt}`));
    for (const attempt of this.outbox.undeliveredOutcomes()) held.add(attempt);
    return {
      kind: 'heartbeat',
      workerId: this.options.workerId,
      pool: this.options.pool,
      taskTypes: this.registry.types(),
      concurrency: this.options.concurrency,
      activeRuns: this.active.size,
      status: this.status,
      hostname: hostname(),
      version: this.options.version,
      startedAt: this.startedAt,
      at: new Date(this.clock.now()).toISOString(),
      held: [...held],
    };
  }
}
