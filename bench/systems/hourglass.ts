/**
 * Hourglass itself, in one process: the core (run creation, the status consumer that writes history,
 * the claim server for rabbitmq, the dispatcher for schedules) and one worker, on a fresh database and
 * a unique broker namespace. Every run is kept in Postgres with its full history (no retention).
 */
import { systemClock } from '../../core/clock/index.ts';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import type { CoreContext } from '../../core/dispatch/context.ts';
import { Dispatcher } from '../../core/dispatch/dispatcher.ts';
import type { PartitionListener } from '../../core/dispatch/fire-partitions.ts';
import { type Firing, startFiring } from '../../core/dispatch/leader-work.ts';
import { createRuns } from '../../core/dispatch/enqueue.ts';
import { applyStatusEvents, decideClaims } from '../../core/dispatch/status.ts';
import { createTaskFromInput } from '../../core/dispatch/tasks.ts';
import { ConfigSchema } from '../../core/config/schema.ts';
import type { Task } from '../../core/model/index.ts';
import type { QueueConsumer, QueueKind, QueueProducer, StatusEvent, Subscription } from '../../core/queue/port.ts';
import { createPostgresConsumer, createPostgresProducer } from '../../core/queue/postgres.ts';
import { createRabbitConsumer, createRabbitProducer } from '../../core/queue/rabbitmq/index.ts';
import { createRedisStreamConsumer, createRedisStreamProducer } from '../../core/queue/redis-stream/index.ts';
import { type Db, migrate, openPgDb } from '../../core/store/index.ts';
import { createHttpExecutor, createNoopExecutor, createShellExecutor, ExecutorRegistry } from '../../worker/executors/index.ts';
import type { Executor } from '../../worker/executors/index.ts';
import { Worker } from '../../worker/worker.ts';
import { type FaultProxy, startFaultProxy, viaProxy } from '../../test/support/fault-proxy.ts';
import { SERVICE_URLS, createTestDatabase, uniqueNamespace } from '../../test/support/services.ts';
import { startLocalHttp } from './local-http.ts';
import type { BenchSystem, JobKind, Spread, StartHook } from './types.ts';

const SUBMIT_BATCH = 2000;
const PREFETCH = 100;
/** how long a fenced-out dispatcher's teardown may take before the bench gives up on it */
const FIRING_STOP_MS = 15_000;

/** a line a dispatcher logged (pino's JSON) */
export interface DispatcherLogEntry {
  level: number;
  msg: string;
  err?: string;
}

/**
 * One dispatcher replica as `scheduler --mode dispatcher` runs it (startFiring: its share of the fire
 * partitions), on a database pool of its own that reaches Postgres through a TCP proxy of its own
 * (test/support/fault-proxy.ts), so that its death can be played on the wire, as Postgres would see it.
 */
export interface FiringDispatcher {
  readonly holder: string;
  readonly firing: Firing;
  /**
   * kill -9: every connection of the process is reset (the server ends its sessions, its transactions and
   * its advisory locks, the liveness hint among them) and new ones are refused; then its timers are stopped.
   * Nothing is released: its stop() can reach no database.
   */
  kill(): void;
  /**
   * Its host vanishes: no byte passes either way any more, but every socket stays open, so the server keeps
   * its sessions (and its liveness hint) until they time out. The process goes on, cut off: its renewals
   * hang, its fence refuses after the renewal deadline; its partitions move on their expiry.
   */
  vanish(): void;
  /** a clean stop: its partitions handed back, its pool closed */
  stop(): Promise<void>;
}

export class HourglassSystem implements BenchSystem {
  readonly name: string;
  readonly config: Record<string, string | number | boolean>;
  readonly #backend: QueueKind;
  readonly #logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });
  #database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  #db: Db | undefined;
  #ctx: CoreContext | undefined;
  #producer: QueueProducer | undefined;
  #consumer: QueueConsumer | undefined;
  #subscriptions: Subscription[] = [];
  #worker: Worker | undefined;
  /** the spread scenario's workers, one per pool, each on a consumer of its own */
  readonly #spreadWorkers: Array<{ worker: Worker; consumer: QueueConsumer }> = [];
  #spreadTasks: Task[] = [];
  #spread: Spread | undefined;
  #dispatcher: Dispatcher | undefined;
  readonly #firing: Array<{ dispatcher: FiringDispatcher; close: () => Promise<void> }> = [];
  #http: Awaited<ReturnType<typeof startLocalHttp>> | undefined;
  readonly #tasks = new Map<JobKind, Promise<Task>>();
  #completed = 0;
  readonly #waiters = new Set<() => void>();
  #onStart: StartHook | undefined;
  #submitted = 0;
  #namespace = '';
  #newConsumer: (workerId: string) => QueueConsumer = () => {
    throw new Error('setup() first');
  };
  /** how the core's history writer spent its time: where the pipeline waits */
  readonly statusWrites = { batches: 0, events: 0, ms: 0 };

  constructor(backend: QueueKind) {
    this.#backend = backend;
    this.name = `hourglass/${backend}`;
    this.config = {
      history: 'every run kept in Postgres',
      submitBatch: SUBMIT_BATCH,
      ...(backend === 'rabbitmq' ? { prefetch: PREFETCH } : {}),
      pollWaitMs: 1000,
    };
  }

  /** the database's URL (the history scenario writes its runs there) */
  get url(): string {
    if (!this.#database) throw new Error('setup() first');
    return this.#database.url;
  }

  get ctx(): CoreContext {
    if (!this.#ctx) throw new Error('setup() first');
    return this.#ctx;
  }

  /** `database`: one made beforehand (history: a copy of a filled template), dropped at teardown all the same */
  async setup(database?: { url: string; drop: () => Promise<void> }): Promise<void> {
    this.#database = database ?? (await createTestDatabase());
    const db = await openPgDb({ url: this.#database.url, maxConnections: 10, logger: this.#logger });
    this.#db = db;
    await migrate(db);
    const names = { namespace: uniqueNamespace('bench'), taskQueue: 'runs', statusQueue: 'status', heartbeatQueue: 'beats' };
    this.#namespace = names.namespace;
    const applyStatus = (events: StatusEvent[]) => this.#applyStatus(events);
    if (this.#backend === 'postgres') this.#producer = createPostgresProducer({ db, applyStatus });
    else if (this.#backend === 'redis_stream') this.#producer = createRedisStreamProducer({ url: SERVICE_URLS.redis, names });
    else this.#producer = createRabbitProducer({ url: SERVICE_URLS.rabbitmq, names, prefetch: PREFETCH });
    this.#newConsumer = (workerId) => {
      if (this.#backend === 'postgres') return createPostgresConsumer({ db, applyStatus, workerId });
      if (this.#backend === 'redis_stream') return createRedisStreamConsumer({ url: SERVICE_URLS.redis, names, workerId });
      return createRabbitConsumer({ url: SERVICE_URLS.rabbitmq, names, prefetch: PREFETCH });
    };
    this.#consumer = this.#newConsumer('bench-worker');
    const ctx: CoreContext = { db, queue: this.#producer, logger: this.#logger, clock: systemClock, now: Date.now };
    this.#ctx = ctx;
    this.#subscriptions.push(await this.#producer.consumeStatus(applyStatus));
    this.#subscriptions.push(await this.#producer.serveClaims((claims) => decideClaims(ctx, claims)));
  }

  /** Outcomes are counted once Postgres has them: that is when the run's history is durable. */
  async #applyStatus(events: StatusEvent[]): Promise<void> {
    const started = performance.now();
    await applyStatusEvents(this.ctx, events);
    this.statusWrites.batches += 1;
    this.statusWrites.events += events.length;
    this.statusWrites.ms += performance.now() - started;
    for (const event of events) if (event.kind === 'finished') this.#completed += 1;
    for (const wake of this.#waiters) wake();
  }

  /** One task per kind, created on first use (concurrent first uses share it). */
  #task(kind: JobKind): Promise<Task> {
    let task = this.#tasks.get(kind);
    if (!task) {
      task = this.#createTask(kind);
      this.#tasks.set(kind, task);
    }
    return task;
  }

  async #createTask(kind: JobKind): Promise<Task> {
    let body: Record<string, unknown>;
    if (kind === 'noop') body = { name: 'bench-noop', type: 'noop', params: {} };
    else if (kind === 'shell') body = { name: 'bench-shell', type: 'shell', shell: { command: ['true'] } };
    else {
      this.#http ??= await startLocalHttp();
      body = { name: 'bench-http', type: 'http', http: { method: 'GET', url: this.#http.url } };
    }
    return createTaskFromInput(this.ctx, body);
  }

  async submit(count: number, kind: JobKind): Promise<void> {
    const task = await this.#task(kind);
    const base = Date.UTC(2001, 0, 1) + this.#submitted;
    this.#submitted += count;
    for (let i = 0; i < count; i += SUBMIT_BATCH) {
      const batch = Array.from({ length: Math.min(SUBMIT_BATCH, count - i) }, (_, j) => ({ task, scheduledTime: new Date(base + i + j), trigger: 'manual' as const }));
      await createRuns(this.ctx, batch);
    }
  }

  async trigger(key: string): Promise<void> {
    const task = await this.#task('noop');
    // the key is the run's slot: its scheduled time, unique per trigger
    await createRuns(this.ctx, [{ task, scheduledTime: new Date(key), trigger: 'manual' }]);
  }

  async startWorker(concurrency: number, onStart?: StartHook): Promise<void> {
    this.#onStart = onStart;
    this.#worker = this.#newWorker(this.#consumer as QueueConsumer, 'bench-worker', 'default', concurrency);
    await this.#worker.start();
  }

  #newWorker(consumer: QueueConsumer, workerId: string, pool: string, concurrency: number): Worker {
    const noop = createNoopExecutor();
    const timed: Executor = {
      type: 'noop',
      execute: (spec, ctx) => {
        this.#onStart?.(ctx.taskName.startsWith('sched-') ? `${ctx.taskName}@${ctx.scheduledTime}` : ctx.scheduledTime, Date.parse(ctx.scheduledTime));
        return noop.execute(spec, ctx);
      },
    };
    // the local target listens on loopback, which http tasks reach only when allowed (worker.http_egress)
    const registry = new ExecutorRegistry().register(timed).register(createShellExecutor()).register(createHttpExecutor({ egress: { allow: ['127.0.0.1'], allow_private_networks: false } }));
    return new Worker(
      consumer,
      registry,
      { workerId, pool, concurrency, heartbeatIntervalMs: 5000, drainTimeoutMs: 5000, outputLimitBytes: 65_536, version: 'bench', pollWaitMs: 1000 },
      this.#logger,
    );
  }

  /** `spread.tasks` no-op tasks `bench-spread-NNNN`, task n in pool `pool-(n % pools)`; not timed. */
  async prepareSpread(spread: Spread): Promise<void> {
    this.#spread = spread;
    const numbers = Array.from({ length: spread.tasks }, (_, n) => n);
    this.#spreadTasks = new Array<Task>(spread.tasks);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = numbers.shift(); n !== undefined; n = numbers.shift()) {
          this.#spreadTasks[n] = await createTaskFromInput(this.ctx, { name: `bench-spread-${String(n).padStart(4, '0')}`, type: 'noop', params: {}, pool: spreadPool(n, spread) });
        }
      }),
    );
    // tasks are made long before their runs: autovacuum has seen them (hg_tasks_depends_on's GIN pending
    // list merged, statistics taken), as it would have in production
    await this.ctx.db.query('VACUUM ANALYZE hg_tasks');
  }

  /** Job i is a run of task i % tasks; batches of SUBMIT_BATCH mix every task and pool. */
  async submitSpread(count: number): Promise<void> {
    const tasks = this.#spreadTasks;
    if (tasks.length === 0) throw new Error('prepareSpread() first');
    const base = Date.UTC(2003, 0, 1) + this.#submitted;
    this.#submitted += count;
    for (let i = 0; i < count; i += SUBMIT_BATCH) {
      const batch = Array.from({ length: Math.min(SUBMIT_BATCH, count - i) }, (_, j) => ({ task: tasks[(i + j) % tasks.length] as Task, scheduledTime: new Date(base + i + j), trigger: 'manual' as const }));
      await createRuns(this.ctx, batch);
    }
  }

  /**
   * A Hourglass worker serves one pool, so `workers` workers cannot each cover every pool: one worker per
   * pool instead (its own consumer and worker id, as a WorkerPool of one replica would have), the same
   * slots in all (workers x concurrency) split evenly over the pools.
   */
  async startSpreadWorkers(workers: number, concurrency: number): Promise<void> {
    const spread = this.#spread;
    if (!spread) throw new Error('prepareSpread() first');
    const each = Math.max(1, Math.round((workers * concurrency) / spread.pools));
    Object.assign(this.config, { spreadWorkers: `${spread.pools} (one per pool)`, spreadConcurrencyPerWorker: each });
    for (let p = 0; p < spread.pools; p++) {
      const workerId = `bench-worker-pool-${p}`;
      const consumer = this.#newConsumer(workerId);
      const worker = this.#newWorker(consumer, workerId, `pool-${p}`, each);
      this.#spreadWorkers.push({ worker, consumer });
      await worker.start();
    }
  }

  async waitCompleted(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#completed < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: ${this.#completed} of ${count} outcomes after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 1000));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      }).finally(() => this.#waiters.clear());
    }
  }

  /** Counts what Postgres holds, to check that the counted outcomes are really there (runs of the bench's own tasks). */
  async succeededInDatabase(): Promise<number> {
    const { rows } = await (this.#db as Db).query<{ n: number }>(
      `SELECT count(*)::int AS n FROM hg_runs r JOIN hg_tasks t ON t.id = r.task_id WHERE t.name LIKE 'bench-%' AND r.status = 'succeeded'`,
    );
    return rows[0]?.n ?? 0;
  }

  /** `count` tasks on `@every` schedules, written in one statement, then a dispatcher that loads them. */
  /**
   * `@every` fires on multiples of the interval since the epoch, so all schedules would fire in the same
   * millisecond; BullMQ's schedulers start where they were created, spread over the interval. To compare
   * like with like, schedules of more than a second are spread over the interval's seconds
   * (`S-59/N * * * * *`), the same period and the same load per second.
   */
  async schedule(count: number, everyMs: number): Promise<void> {
    const seconds = everyMs / 1000;
    const spread = seconds > 1 && Number.isInteger(seconds) && 60 % seconds === 0;
    await this.insertScheduledTasks(count, (i) => (spread ? `${i % seconds}-59/${seconds} * * * * *` : `@every ${seconds}s`));
    await this.startDispatcher();
  }

  /** Intended fire time to the run durable and queued, per fire in [fromMs, toMs): the dispatcher alone. */
  async fireLags(fromMs: number, toMs: number): Promise<number[]> {
    const { rows } = await (this.#db as Db).query<{ ms: number }>(
      `SELECT (extract(epoch FROM queued_at - scheduled_time) * 1000)::float8 AS ms FROM hg_runs
        WHERE trigger = 'schedule' AND queued_at IS NOT NULL AND scheduled_time >= $1 AND scheduled_time < $2`,
      [new Date(fromMs).toISOString(), new Date(toMs).toISOString()],
    );
    return rows.map((r) => Number(r.ms));
  }

  /**
   * Bulk task rows cloned from one validated task; `scheduleOf(i)` gives each its schedule, `spec` overrides
   * fields of the template (validated with it), names are `${prefix}${i}`.
   */
  async insertScheduledTasks(count: number, scheduleOf: (i: number) => string, options: { prefix?: string; spec?: Record<string, unknown> } = {}): Promise<void> {
    const prefix = options.prefix ?? 'sched-';
    // catchUp None: slots that passed while the tasks were being written are recorded as missed, not run
    // all at once when the dispatcher starts (a backlog that would swamp the lag measured after it)
    const template = await createTaskFromInput(this.ctx, { name: `${prefix}template`, type: 'noop', params: {}, catchUp: 'None', ...options.spec, schedule: scheduleOf(0), suspend: true });
    const schedules = Array.from({ length: count }, (_, i) => scheduleOf(i));
    const db = this.#db as Db;
    for (let i = 0; i < count; i += 20_000) {
      await db.query(
        `INSERT INTO hg_tasks (id, name, spec)
         SELECT gen_random_uuid(), $4 || (n - 1 + $3), jsonb_set(jsonb_set($1::jsonb, '{schedule}', to_jsonb(s)), '{suspend}', 'false')
           FROM unnest($2::text[]) WITH ORDINALITY AS u(s, n)`,
        [JSON.stringify(template.spec), schedules.slice(i, i + 20_000), i, prefix],
      );
    }
    await db.query(`DELETE FROM hg_tasks WHERE name = $1`, [`${prefix}template`]);
  }

  /** A statement on the benchmark's database, for scenarios that set up or read what the API has no call for. */
  async query<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await (this.#db as Db).query<T>(text, params)).rows;
  }

  async startDispatcher(): Promise<{ loadMs: number }> {
    const started = performance.now();
    this.#dispatcher = new Dispatcher(this.ctx, { syncIntervalMs: 10_000, maxBatch: 1000, fireLeadMs: fireLeadMs() });
    await this.#dispatcher.start();
    return { loadMs: performance.now() - started };
  }

  /**
   * `count` more dispatcher replicas firing the scheduled tasks between them (partitioned leadership): each with
   * its own pool (the defaults of [database]: 10 connections, query timeout 40 s, keepalive 10 s), its own
   * context and postgres producer, startFiring with holder `bench-dispatcher-N`, the production
   * schedule_interval_seconds (10) and max_concurrent_dispatches (1000); N counts on across calls. `observe(N)`
   * is told of dispatcher N's partitions as they come and go. The other scenarios' single Dispatcher (startDispatcher) is untouched.
   */
  async startFiringDispatchers(
    count: number,
    options: { leaseMs: number; observe?: (n: number) => PartitionListener; log?: (n: number, entry: DispatcherLogEntry) => void },
  ): Promise<FiringDispatcher[]> {
    if (this.#backend !== 'postgres') throw new Error('startFiringDispatchers: the postgres queue only');
    const url = this.url;
    const target = new URL(url);
    const applyStatus = (events: StatusEvent[]) => this.#applyStatus(events);
    const started: FiringDispatcher[] = [];
    // numbered on from those started before: a dispatcher started later is a new process with a new holder
    const first = this.#firing.length;
    for (let n = first; n < first + count; n++) {
      const proxy: FaultProxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const db = await openPgDb({ url: viaProxy(url, proxy), maxConnections: 10, queryTimeoutMs: 40_000, keepAliveMs: 10_000, logger: this.#logger });
      const producer = createPostgresProducer({ db, applyStatus });
      const holder = `bench-dispatcher-${n}`;
      const logger = options.log ? this.#dispatcherLogger(n, holder, options.log) : this.#logger;
      const ctx: CoreContext = { db, queue: producer, logger, clock: systemClock, now: Date.now };
      const firing = startFiring(ctx, { syncIntervalMs: 10_000, maxBatch: 1000, fireLeadMs: fireLeadMs(), leaseMs: options.leaseMs, holder, ...(options.observe ? { observe: options.observe(n) } : {}) });
      let stopping: Promise<void> | undefined;
      // the process's end, whichever way: its timers stopped, its pool and its proxy closed (bounded: a
      // cut-off dispatcher's stop waits on nothing that can answer)
      const end = () =>
        (stopping ??= (async () => {
          await withTimeout(Promise.allSettled([firing.partitions.stop(), firing.stop()]), FIRING_STOP_MS);
          await withTimeout(producer.close().catch(() => {}), FIRING_STOP_MS);
          await withTimeout(db.close().catch(() => {}), FIRING_STOP_MS);
          await proxy.close();
        })());
      const dispatcher: FiringDispatcher = {
        holder,
        firing,
        kill() {
          proxy.cut();
          void end();
        },
        vanish() {
          proxy.stall();
        },
        async stop() {
          await withTimeout(firing.stop(), FIRING_STOP_MS);
          await end();
        },
      };
      this.#firing.push({
        dispatcher,
        // at teardown a dispatcher still cut off (vanished) is killed: nothing it holds is waited for
        close: async () => {
          if (proxy.mode === 'stalled') dispatcher.kill();
          await (proxy.mode === 'cut' ? end() : dispatcher.stop());
        },
      });
      started.push(dispatcher);
    }
    return started;
  }

  /** dispatcher n's logger: every line from info up told to `log`, and printed as the system's logger would (BENCH_LOG_LEVEL) */
  #dispatcherLogger(n: number, holder: string, log: (n: number, entry: DispatcherLogEntry) => void): Logger {
    const printed = pino.levels.values[process.env.BENCH_LOG_LEVEL ?? 'silent'] ?? Infinity;
    return pino({ level: 'info', base: { dispatcher: holder } }, {
      write(line: string) {
        const entry = JSON.parse(line) as DispatcherLogEntry;
        log(n, entry);
        if (entry.level >= printed) process.stdout.write(line);
      },
    });
  }

  get database(): string | undefined {
    return this.#database ? new URL(this.#database.url).pathname.slice(1) : undefined;
  }

  async teardown(): Promise<void> {
    await this.#dispatcher?.stop().catch(() => {});
    for (const { close } of this.#firing) await close().catch(() => {});
    await this.#worker?.stop().catch(() => {});
    for (const { worker } of this.#spreadWorkers) await worker.stop().catch(() => {});
    for (const { consumer } of this.#spreadWorkers) await consumer.close().catch(() => {});
    for (const sub of this.#subscriptions) await sub.close().catch(() => {});
    await this.#consumer?.close().catch(() => {});
    await this.#producer?.close().catch(() => {});
    await this.#db?.close().catch(() => {});
    await this.#http?.close();
    await this.#database?.drop();
    if (this.#namespace) await removeBrokerObjects(this.#backend, this.#namespace, ['default', ...Array.from({ length: this.#spread?.pools ?? 0 }, (_, p) => `pool-${p}`)]);
  }
}

/** Streams, claim keys, queues and exchanges of one namespace: a benchmark leaves nothing behind. */
async function removeBrokerObjects(backend: QueueKind, namespace: string, pools: string[]): Promise<void> {
  if (backend === 'redis_stream') {
    const redis = new Redis(SERVICE_URLS.redis);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 5000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  } else if (backend === 'rabbitmq') {
    const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
    try {
      const channel = await connection.createChannel();
      for (const queue of [...pools.map((p) => `runs.${p}`), 'runs.dead', 'runs.claims', 'status', 'beats']) await channel.deleteQueue(`${namespace}.${queue}`);
      for (const exchange of ['runs.dead', 'runs.cancel']) await channel.deleteExchange(`${namespace}.${exchange}`);
    } finally {
      await connection.close();
    }
  }
}

/** resolves when `promise` settles or after `ms`, whichever is first */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** the pool of spread task n: the tasks go round the pools */
export function spreadPool(n: number, spread: Spread): string {
  return `pool-${n % spread.pools}`;
}

/**
 * dispatcher.fire_lead_ms as the server would use it on Postgres: the schema's default, or BENCH_FIRE_LEAD_MS
 * (0 measures fires written at their time, as before the lead)
 */
function fireLeadMs(): number {
  const set = process.env.BENCH_FIRE_LEAD_MS;
  return set !== undefined && set !== '' ? Number(set) : ConfigSchema.parse({}).dispatcher.fire_lead_ms;
}
