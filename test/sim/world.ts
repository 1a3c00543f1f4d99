import { pino, type Logger } from 'pino';
import type { Clock } from '../../core/clock/index.ts';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { type Firing, startFiring, startLeaderWork } from '../../core/dispatch/leader-work.ts';
import { holdLeadership, type Leadership } from '../../core/dispatch/leadership.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import type { ClaimLedger } from '../../core/queue/claim-ledger.ts';
import { guardConsumer } from '../../core/queue/guarded-consumer.ts';
import type { Db } from '../../core/store/db.ts';
import { createNoopExecutor } from '../../worker/executors/noop.ts';
import { ExecutorRegistry } from '../../worker/executors/registry.ts';
import { Worker } from '../../worker/worker.ts';
import { hash32, Prng } from './prng.ts';
import { SimBroker } from './sim-broker.ts';
import { SimDatabase } from './sim-db.ts';
import { createSleepExecutor, recording, type Execution } from './sleep-executor.ts';
import { VirtualTime } from './virtual-time.ts';

export const WORKER_TIMEOUT_SECONDS = 15;
const HEARTBEAT_MS = 3000;
/** dispatcher.leader_lease_seconds's default */
const LEASE_MS = 5000;
/** dispatcher.fire_lead_ms of the simulated dispatchers */
const FIRE_LEAD_MS = 150;
const RETENTION_MS = 10_000;

export interface WorldOptions {
  seed: number;
  startMs: number;
  /** most clock skew of a process against true time, ms (the database host included) */
  maxSkewMs: number;
  /** keep every trace line (a replay) instead of the last few hundred */
  fullTrace?: boolean;
}

interface DispatcherProcess {
  owner: string;
  name: string;
  leadership?: Leadership;
  firing?: Firing;
}

export interface LeaderTermRecord {
  owner: string;
  epoch: number;
  start: number;
  end?: number;
}

export interface PartitionTermRecord {
  owner: string;
  partition: number;
  start: number;
  end?: number;
}

interface WorkerProcess {
  owner: string;
  name: string;
  worker: Worker;
  pool: string;
}

/**
 * The simulated deployment: one database, one broker, a dispatcher process (leader: dispatcher, reaper,
 * retention, status consumer, claim server, as cli/runtime.ts wires them), worker processes running the
 * real Worker, and an API process. Processes crash and restart; each has its own clock view and skew.
 */
export class World {
  readonly time: VirtualTime;
  readonly prng: Prng;
  readonly db: SimDatabase;
  readonly broker: SimBroker;
  readonly trace: string[] = [];
  readonly executions: Execution[] = [];
  readonly live = new Map<string, Execution>();
  /** [start, end) of each leader's term, in true time (terms of a frozen leader may overlap its successor's) */
  readonly leaderTerms: LeaderTermRecord[] = [];
  /** [start, end) of each fire partition's terms, in true time (a frozen holder's may overlap its successor's) */
  readonly partitionTerms: PartitionTermRecord[] = [];
  readonly dispatchers = new Map<string, DispatcherProcess>();
  /** when each process was frozen, in true time */
  readonly freezes: Array<{ owner: string; from: number; to: number }> = [];
  /** workers that crashed or were stopped, by owner: their attempts may legitimately be failed */
  readonly goneWorkers = new Set<string>();
  readonly api: CoreContext;
  readonly workers = new Map<string, WorkerProcess>();
  /** each worker incarnation's claim ledger (the queue layer's memory of claims it gave up on), by owner */
  readonly ledgers = new Map<string, ClaimLedger>();
  readonly dbSkewMs: number;
  get startMs(): number {
    return this.#options.startMs;
  }
  readonly #options: WorldOptions;
  #generation = 0;
  readonly #owners = new Set<string>();
  readonly #fate: (runId: string, attempt: number) => number;

  constructor(raw: Db, options: WorldOptions) {
    this.#options = options;
    this.prng = new Prng(options.seed);
    this.time = new VirtualTime(options.startMs);
    this.db = new SimDatabase(raw, this.time, this.prng.fork(1), (line) => this.log(line));
    this.broker = new SimBroker(this.time, this.prng.fork(2), (line) => this.log(line));
    this.dbSkewMs = this.#skew();
    this.#fate = (runId, attempt) => hash32(options.seed, runId, attempt) / 2 ** 32;
    this.api = this.ctxFor('api');
  }

  log(line: string): void {
    this.trace.push(`[${((this.time.now - this.#options.startMs) / 1000).toFixed(3)}s] ${line}`);
    // SIM_LIVE=1: the trace as it is written, for a seed that hangs (a hung world returns no trace)
    if (process.env.SIM_LIVE) process.stderr.write(`${this.trace[this.trace.length - 1]}\n`);
    if (!this.#options.fullTrace && this.trace.length > 600) this.trace.splice(0, 200);
  }

  #skew(): number {
    return this.prng.int(-this.#options.maxSkewMs, this.#options.maxSkewMs);
  }

  #logger(owner: string): Logger {
    return pino({ level: 'info', base: null, timestamp: false }, { write: (line: string) => this.log(`${owner}: ${line.trim()}`) });
  }

  ctxFor(owner: string, clock: Clock = this.time.clock(owner, this.#skew())): CoreContext {
    this.#owners.add(owner);
    const db = this.db.view(owner);
    return { db, queue: this.broker.producer(owner), logger: this.#logger(owner), clock, now: clock.now };
  }

  /**
   * A dispatcher replica, wired as cli/runtime.ts wires one: every replica consumes status events and serves
   * claims; the one holding the lease leads (the real holdLeadership and startLeaderWork).
   */
  startDispatcher(name: string): void {
    if (this.dispatchers.has(name)) return;
    const owner = `${name}#${++this.#generation}`;
    this.log(`${owner} starting`);
    const ctx = this.ctxFor(owner);
    const proc: DispatcherProcess = { owner, name };
    this.dispatchers.set(name, proc);
    void this.#bootDispatcher(proc, ctx);
  }

  async #bootDispatcher(proc: DispatcherProcess, ctx: CoreContext): Promise<void> {
    const { owner } = proc;
    try {
      await ctx.queue.consumeStatus((events) => applyStatusEvents(ctx, events));
      await ctx.queue.serveClaims((claims) => decideClaims(ctx, claims));
    } catch (error) {
      if (this.time.isDead(owner)) return;
      this.log(`${owner} failed to start (${(error as Error).message}); trying again`);
      ctx.clock.setTimeout(() => void this.#bootDispatcher(proc, ctx), 1000);
      return;
    }
    const open = new Map<number, PartitionTermRecord>();
    proc.firing = startFiring(ctx, {
      syncIntervalMs: 10_000,
      maxBatch: 50,
      // fires prepared ahead and committed at their time, so crashes, commit faults and partitions lost land
      // inside open prepared writes too; short, as PGlite's one session stalls the whole world for it
      fireLeadMs: FIRE_LEAD_MS,
      leaseMs: LEASE_MS,
      holder: owner,
      observe: {
        gained: (partitions) => {
          for (const partition of partitions) {
            const term: PartitionTermRecord = { owner, partition, start: this.time.now };
            open.set(partition, term);
            this.partitionTerms.push(term);
          }
        },
        lost: (partitions) => {
          for (const partition of partitions) {
            const term = open.get(partition);
            if (term) term.end ??= this.time.now;
            open.delete(partition);
          }
        },
      },
    });
    proc.leadership = holdLeadership(
      ctx.db,
      ctx.logger,
      async (term) => {
        const stop = await startLeaderWork(ctx, term, {
          workerTimeoutSeconds: WORKER_TIMEOUT_SECONDS,
          lostQueuedSeconds: 30,
          retentionIntervalMs: RETENTION_MS,
        });
        const term$ = { owner, epoch: term.epoch, start: this.time.now } as LeaderTermRecord;
        this.leaderTerms.push(term$);
        this.log(`${owner} leads (epoch ${term.epoch})`);
        return async () => {
          term$.end ??= this.time.now;
          await stop();
        };
      },
      { clock: ctx.clock, leaseMs: LEASE_MS, name: 'dispatcher' },
    );
  }

  /** the end of the world  /** the end of the world: every process dies, no listener of it survives into the next seed */
  async shutdown(): Promise<void> {
    for (const owner of ['api', 'world', 'broker', 'db', ...[...this.dispatchers.values()].map((d) => d.owner), ...[...this.workers.values()].map((w) => w.owner)]) this.time.kill(owner);
    this.#owners.forEach((owner) => this.time.kill(owner));
    await this.db.closeListeners();
  }

  crashDispatcher(name: string): void {
    const proc = this.dispatchers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} CRASHES`);
    this.#gone(proc.owner);
    this.broker.consumerDied(proc.owner);
    this.dispatchers.delete(name);
  }

  /**
   * The host disappears without closing anything: the process does nothing more, and the broker notices its
   * dead connection only after `noticeMs` (a heartbeat timeout); its lease simply expires.
   */
  vanishDispatcher(name: string, noticeMs: number): void {
    const proc = this.dispatchers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} VANISHES (the broker notices in ${noticeMs} ms)`);
    this.#gone(proc.owner);
    this.time.schedule('broker', noticeMs, () => this.broker.consumerDied(proc.owner));
    this.dispatchers.delete(name);
  }

  /** a dispatcher stops for a while (SIGSTOP, a GC pause) and goes on where it was */
  freezeDispatcher(name: string, ms: number): void {
    const proc = this.dispatchers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} FREEZES for ${ms} ms`);
    this.time.freeze(proc.owner, ms);
    this.freezes.push({ owner: proc.owner, from: this.time.now, to: this.time.now + ms });
  }

  /**
   * A worker stops for a while (its host partitioned, SIGSTOP) and goes on where it was: past worker_timeout
   * the core fails its attempts and retries them elsewhere, and its outcomes arrive late.
   */
  freezeWorker(name: string, ms: number): void {
    const proc = this.workers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} FREEZES for ${ms} ms`);
    this.time.freeze(proc.owner, ms);
  }

  #gone(owner: string): void {
    this.time.kill(owner);
    for (const term of this.leaderTerms) if (term.owner === owner) term.end ??= this.time.now;
    for (const term of this.partitionTerms) if (term.owner === owner) term.end ??= this.time.now;
  }

  startWorker(name: string, pool: string, concurrency: number): void {
    const owner = `${name}#${++this.#generation}`;
    this.#owners.add(owner);
    const clock = this.time.clock(owner, this.#skew());
    const registry = new ExecutorRegistry()
      .register(recording(createSleepExecutor(clock, this.#fate), owner, () => this.time.now, this.executions, this.live))
      .register(recording(createNoopExecutor(), owner, () => this.time.now, this.executions, this.live));
    // the queue layer every real worker receives through (factory.ts): claim ledger, incarnation, signed events
    const consumer = guardConsumer(this.broker.consumer(owner));
    this.ledgers.set(owner, consumer.ledger);
    const worker = new Worker(
      consumer,
      registry,
      { workerId: owner, pool, concurrency, heartbeatIntervalMs: HEARTBEAT_MS, drainTimeoutMs: 30_000, outputLimitBytes: 65_536, version: 'sim', pollWaitMs: 2000, clock },
      this.#logger(owner),
    );
    this.workers.set(name, { owner, name, worker, pool });
    this.log(`${owner} starting (pool ${pool}, concurrency ${concurrency})`);
    worker.start().catch((error: Error) => this.log(`${owner} failed to start: ${error.message}`));
  }

  crashWorker(name: string): void {
    const proc = this.workers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} CRASHES`);
    this.time.kill(proc.owner);
    this.broker.consumerDied(proc.owner);
    this.goneWorkers.add(proc.owner);
    for (const [key, execution] of [...this.live]) {
      if (!key.startsWith(`${proc.owner}:`)) continue;
      execution.crashed = true;
      execution.endMs = this.time.now;
      this.live.delete(key);
    }
    this.workers.delete(name);
  }

  /** SIGTERM: the worker drains, flushes and stops; then the process is gone */
  stopWorker(name: string): void {
    const proc = this.workers.get(name);
    if (!proc) return;
    this.log(`${proc.owner} stopping gracefully`);
    this.workers.delete(name);
    this.goneWorkers.add(proc.owner);
    proc.worker.stop().then(
      () => {
        this.log(`${proc.owner} stopped`);
        this.time.kill(proc.owner);
        this.broker.consumerDied(proc.owner);
      },
      (error: Error) => this.log(`${proc.owner} stop failed: ${error.message}`),
    );
  }
}
