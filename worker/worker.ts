import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../core/clock/index.ts';
import type { Delivery, QueueConsumer, RunMessage, Subscription } from '../core/queue/port.ts';
import type { ExecutorRegistry } from './executors/registry.ts';
import type { ExecutionResult } from './executors/types.ts';
import { StatusOutbox } from './status-outbox.ts';

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
  /** the source of time and timers (the simulator's virtual clock in test/sim); systemClock by default */
  clock?: Clock;
}

interface ActiveRun {
  message: RunMessage;
  abort: AbortController;
  done: Promise<void>;
}

const LOG_CHUNK_BYTES = 8192;
const OUTBOX_HIGH_WATER = 2000;
const FINAL_FLUSH_MS = 10_000;
/** attempts remembered against duplicate copies: far more than a worker receives while a copy can linger */
const STARTED_MEMORY = 100_000;

/**
 * Takes runs from its pool's queue, up to `concurrency` at once, claims each attempt before executing
 * it, and reports started/finished/log events and heartbeats. On stop() it takes no more work and
 * lets what it holds finish within the drain timeout; what is still running then is cancelled.
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

  get activeRuns(): number {
    return this.active.size;
  }

  async start(): Promise<void> {
    this.cancelSub = await this.consumer.onCancel((runIds) => this.cancel(runIds));
    this.drainSub = await this.consumer.onDrain((workerId) => {
      if (workerId === this.options.workerId) void this.drain();
    });
    await this.sendHeartbeat();
    this.heartbeat = this.clock.setInterval(() => void this.sendHeartbeat(), this.options.heartbeatIntervalMs);
    this.loop = this.receiveLoop();
    this.logger.info({ concurrency: this.options.concurrency, types: this.registry.types() }, 'worker started');
  }

  /** Drains: no new work, running work gets drainTimeoutMs to finish, then it is cancelled. */
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
    await this.sendHeartbeat();
    await this.loop;
  }

  async stop(): Promise<void> {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.status = 'DRAINING';
    this.stopping.abort();
    this.slotFreed?.();
    await this.loop;
    void this.sendHeartbeat();
    const drained = Promise.all([...this.active.values()].map((run) => run.done));
    const timer = new Promise<'timeout'>((resolve) => this.clock.setTimeout(() => resolve('timeout'), this.options.drainTimeoutMs).unref?.());
    if ((await Promise.race([drained, timer])) === 'timeout') {
      this.logger.warn({ runs: this.active.size }, 'drain timeout: cancelling runs still active');
      this.cancel([...this.active.keys()]);
      await drained;
    }
    this.clock.clearInterval(this.heartbeat);
    this.status = 'DOWN';
    await this.sendHeartbeat();
    // bounded: with the broker or database down, shutdown must still end; the reaper settles the rest
    const flushed = await Promise.race([
      this.outbox.flush().then(() => true),
      new Promise<boolean>((resolve) => this.clock.setTimeout(() => resolve(false), FINAL_FLUSH_MS).unref?.()),
    ]);
    if (!flushed) {
      this.logger.error({ events: this.outbox.size }, 'status events still undelivered at shutdown; the reaper will fail and retry their attempts');
      this.outbox.close();
    }
    await this.cancelSub?.close();
    await this.drainSub?.close();
    this.logger.info('worker stopped');
  }

  private cancel(runIds: string[]): void {
    for (const id of runIds) this.active.get(id)?.abort.abort();
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
    run.done = this.execute(message, abort.signal).finally(() => {
      this.active.delete(message.runId);
      this.slotFreed?.();
      this.slotFreed = undefined;
    });
  }

  /** An attempt is always reported finished, even when the executor throws. */
  private async execute(message: RunMessage, signal: AbortSignal): Promise<void> {
    const { workerId } = this.options;
    // no started event: every queue records the start with the claim (port.ts)
    let result: ExecutionResult;
    const startedMs = this.clock.now();
    const executor = this.registry.get(message.type);
    if (!executor) {
      result = { status: 'failed', error: `no executor for task type "${message.type}" on worker ${workerId} (has: ${this.registry.types().join(', ')})`, output: '', outputTruncated: false };
    } else {
      let seq = 0;
      try {
        result = await executor.execute(message.spec, {
          runId: message.runId,
          attempt: message.attempt,
          taskName: message.taskName,
          shard: message.shard,
          shardTotal: message.shardTotal,
          scheduledTime: message.scheduledTime,
          timeoutMs: message.timeoutSeconds * 1000,
          signal,
          outputLimitBytes: this.options.outputLimitBytes,
          onOutput: (stream, chunk) => {
            if (seq * LOG_CHUNK_BYTES > this.options.outputLimitBytes) return;
            this.outbox.push({ kind: 'log', runId: message.runId, attempt: message.attempt, seq: seq++, stream, chunk: chunk.slice(0, LOG_CHUNK_BYTES) }).catch(() => {});
          },
        });
      } catch (error) {
        result = { status: 'failed', error: `executor error: ${(error as Error).message}`, output: '', outputTruncated: false };
      }
    }
    this.options.onFinished?.(message, result, this.clock.now() - startedMs);
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
    });
    if (this.outbox.size > OUTBOX_HIGH_WATER) await delivered;
    else delivered.catch(() => {}); // the outbox retries until delivered; it only gives up once closed
  }

  private async sendHeartbeat(): Promise<void> {
    try {
      await this.consumer.publishStatus([
        {
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
          held: [...this.active.values()].map((run) => `${run.message.runId}/${run.message.attempt}`),
        },
      ]);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed');
    }
  }
}
