import path from 'node:path';
import type { Logger } from 'pino';
import { loadConfig, parseBindAddress, type Config } from '../core/config/index.ts';
import { systemClock } from '../core/clock/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import { holdLeadership, type Leadership } from '../core/dispatch/leadership.ts';
import { startFiring, startLeaderWork } from '../core/dispatch/leader-work.ts';
import { applyStatusEvents, decideClaims } from '../core/dispatch/status.ts';
import { createConsumer, createProducer, queueKind, redisUrl } from '../core/queue/factory.ts';
import type { StatusEvent, Subscription } from '../core/queue/port.ts';
import { type Db, migrate, openPgDb, openPgliteDb } from '../core/store/index.ts';
import { createLogger, type LogLevel } from '../core/telemetry/logger.ts';
import { createMetrics, type Metrics } from '../core/telemetry/metrics.ts';
import { brokerAddress, brokerAnswers } from './broker-check.ts';
import { claimNamespace, installId } from './namespace-claim.ts';
import { brokerProblem, phase, StartupError } from './startup-error.ts';
import { startHealthServer } from '../operator/health-server.ts';
import { VERSION } from './version.ts';

export const MODES = ['all', 'api', 'dispatcher', 'worker', 'operator'] as const;
export type Mode = (typeof MODES)[number];

export interface StartOptions {
  mode: Mode;
  configFiles?: string[];
  workerId?: string;
  pool?: string;
  dataDir?: string;
  logLevel?: LogLevel;
  logFormat?: 'json' | 'pretty';
  env?: Record<string, string | undefined>;
}

export interface Running {
  config: Config;
  logger: Logger;
  /** where the API listens, when this mode serves it */
  apiUrl?: string;
  stop(): Promise<void>;
}

/** Loads the config chain, opens what the mode needs, and starts its parts. stop() undoes it in reverse. */
export async function startScheduler(options: StartOptions): Promise<Running> {
  const env = options.env ?? process.env;
  const { config, warnings } = await phase('config', () => loadConfig({ extraFiles: options.configFiles ?? [], env, mode: options.mode }));
  applyFlags(config, options);
  const logger = createLogger({
    level: options.logLevel ?? config.observability.log_level,
    format: options.logFormat ?? config.observability.log_format,
    fields: {
      ...config.observability.log_fields,
      service_version: config.observability.log_fields.service_version || VERSION,
      mode: options.mode,
    },
    ...(config.observability.log_file ? { file: config.observability.log_file } : {}),
  });
  for (const warning of warnings) logger.warn(warning);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((error: Error) => logger.error({ err: error.message }, 'error during shutdown'));
    }
  };
  try {
    return await startParts(options, config, logger, stops, stopAll);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Command-line choices that win over the config files (also after a reload). */
function applyFlags(config: Config, options: StartOptions): Config {
  if (options.workerId) config.worker.worker_id = options.workerId;
  if (options.pool) config.worker.pool = options.pool;
  if (options.logLevel) config.observability.log_level = options.logLevel;
  return config;
}

async function startParts(options: StartOptions, config: Config, logger: Logger, stops: Array<() => Promise<void>>, stopAll: () => Promise<void>): Promise<Running> {
  const { mode } = options;
  if (config.embedded && mode !== 'all') {
    throw new StartupError('config', `--mode ${mode} needs a shared database: set DATABASE_URL (or database.url); the embedded database serves --mode all only`);
  }
  // loaded in this mode only (other modes never need the Kubernetes client), and while the database and the
  // dispatcher start, so that compiling it overlaps their round trips instead of following them
  const operatorModule = mode === 'operator' ? import('../operator/index.ts') : undefined;
  // a start that fails before the operator awaits it must not also report an unhandled rejection
  operatorModule?.catch(() => undefined);
  const kind = queueKind(config);
  const needsDb = mode !== 'worker' || kind === 'postgres';
  let db: Db | undefined;
  if (needsDb) {
    db = await phase('database', () => config.embedded
      ? openPgliteDb(path.resolve(options.dataDir ?? 'data'))
      : openPgDb({
          url: config.database.url,
          maxConnections: config.database.pool.max_connections,
          minConnections: config.database.pool.min_connections,
          // node-postgres has one timeout for opening a connection and for waiting for a free one
          connectionTimeoutMs: config.database.pool.acquire_timeout_seconds * 1000,
          idleTimeoutMs: config.database.pool.idle_timeout_seconds * 1000,
          maxLifetimeSeconds: config.database.pool.max_lifetime_seconds,
          statementTimeoutMs: config.database.statement_timeout_seconds * 1000,
          queryTimeoutMs: config.database.query_timeout_seconds * 1000,
          keepAliveMs: config.database.tcp_keepalive_seconds * 1000,
          logger,
        }));
    const opened = db;
    stops.push(() => opened.close());
    const applied = await phase('database', () => migrate(opened), 'database migration failed: ');
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
  }
  // `mode` is already on every line (the logger's base fields); a worker on a broker opens no database at all
  const database = !db ? 'none (runs and outcomes travel on the broker)' : config.embedded ? `embedded (${path.resolve(options.dataDir ?? 'data')})` : 'postgres';
  logger.info({ queue: kind, database }, 'starting');

  const metrics = createMetrics();
  let ctx: CoreContext | undefined;
  const applyStatus = async (events: StatusEvent[]) => applyStatusEvents(ctx as CoreContext, events);
  if (db) {
    const opened = db;
    const producer = await phase('broker', () => createProducer(config, opened, applyStatus), brokerProblem(kind, brokerAddress(config)));
    stops.push(() => producer.close());
    // a producer connects lazily: without this an API would start on a dead broker and answer triggers 30 s late
    if (kind !== 'postgres') await phase('broker', () => brokerAnswers(producer, config), brokerProblem(kind, brokerAddress(config)));
    if (kind === 'redis_stream') {
      const claim = await phase('broker', async () => claimNamespace({
        url: redisUrl(config), namespace: config.message_queue.namespace, taskQueue: config.message_queue.task_queue,
        installId: await installId(opened), connectTimeoutMs: config.message_queue.redis.connection_timeout_seconds * 1000, logger,
      }), brokerProblem(kind, brokerAddress(config)));
      stops.push(() => claim.release());
    }
    ctx = { db, queue: producer, logger, clock: systemClock, now: () => systemClock.now() };
  }

  // In mode all, [dispatcher], [worker] and [api] `enabled` choose the parts; a named mode runs its part.
  const runs = (part: 'dispatcher' | 'worker' | 'api') => mode === part || (mode === 'all' && config[part].enabled);
  if (mode === 'all' && !config.worker.enabled) logger.warn('worker.enabled is false: this process executes no runs; start workers with --mode worker');
  let leadership: Leadership | undefined;
  // the operator schedules too unless told not to: one Deployment is enough on Kubernetes
  if (ctx && (runs('dispatcher') || (mode === 'operator' && config.operator.run_dispatcher))) leadership = await phase('broker', () => startDispatcher(ctx as CoreContext, config, metrics, stops), brokerProblem(kind, brokerAddress(config)));
  if (runs('worker')) await phase('broker', () => startWorker(config, db, applyStatus, logger, metrics, stops), brokerProblem(kind, brokerAddress(config)));
  let apiUrl: string | undefined;
  if (ctx && runs('api')) {
    warnAboutAuth(config, logger);
    // the API (fastify, its plugins and routes) is loaded only by the modes that serve it
    const { buildApi } = await import('../api/server.ts');
    const app = await buildApi({
      ctx,
      logger,
      version: VERSION,
      metrics,
      config,
      mode,
      isLeader: () => leadership?.isLeader() ?? false,
      // a reload reads the same files and environment, with this process's command-line choices
      loadConfig: () => applyFlags(loadConfig({ extraFiles: options.configFiles ?? [], env: options.env ?? process.env, mode: options.mode }).config, options),
    });
    const { host, port } = parseBindAddress(config.api.bind_address);
    await app.listen({ host, port });
    const address = app.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    apiUrl = `${config.api.tls.enabled ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    stops.push(() => app.close());
    logger.info({ url: apiUrl }, 'API listening');
  }
  // The guide's Prometheus jobs scrape dispatchers and workers too: a process without the API answers on its own port.
  if (!apiUrl && mode !== 'operator' && config.observability.metrics_bind_address !== '') {
    const { host, port } = parseBindAddress(config.observability.metrics_bind_address);
    const listener = await phase('config', () => startHealthServer(host, port, {
      healthy: () => true,
      ready: () => ({ ready: true, detail: { mode, ...(leadership ? { leader: leadership.isLeader() } : {}) } }),
    }, metrics.registry), `observability.metrics_bind_address ${config.observability.metrics_bind_address}: `);
    stops.push(() => listener.close());
    logger.info({ url: listener.url }, 'health and metrics listening');
  }
  if (ctx && mode === 'operator') {
    const { startOperator } = await (operatorModule as Promise<typeof import('../operator/index.ts')>);
    const operator = await startOperator({ ctx, config: config.operator, workerDrainSeconds: config.worker.drain_timeout_seconds, registry: metrics.registry, logger });
    stops.push(() => operator.stop());
  }
  return { config, logger, ...(apiUrl ? { apiUrl } : {}), stop: stopAll };
}

async function startDispatcher(ctx: CoreContext, config: Config, metrics: Metrics, stops: Array<() => Promise<void>>): Promise<Leadership> {
  // Every dispatcher replica writes status events, answers claims and fires the schedules of its share of the
  // fire partitions; the one leader also reaps, prunes history and hands retries over.
  const subscriptions: Subscription[] = [
    await ctx.queue.consumeStatus((events) => applyStatusEvents(ctx, events)),
    await ctx.queue.serveClaims((claims) => decideClaims(ctx, claims)),
  ];
  stops.push(async () => {
    for (const sub of subscriptions) await sub.close();
  });
  const held = () => metrics.firePartitions.set(firing.partitions.held().length);
  const firing = startFiring(ctx, {
    syncIntervalMs: config.dispatcher.schedule_interval_seconds * 1000,
    maxBatch: config.dispatcher.max_concurrent_dispatches,
    // PGlite has one session: a write held open until its fire's time would hold up every other
    fireLeadMs: ctx.db.kind === 'pg' ? config.dispatcher.fire_lead_ms : 0,
    leaseMs: config.dispatcher.leader_lease_seconds * 1000,
    observe: { gained: held, lost: held },
  });
  metrics.firePartitions.set(0);
  stops.push(() => firing.stop());
  const leadership = holdLeadership(ctx.db, ctx.logger, async (term) => {
    metrics.isLeader.set(1);
    const stopWork = await startLeaderWork(ctx, term, {
      workerTimeoutSeconds: config.dispatcher.worker_timeout_seconds,
      lostQueuedSeconds: config.message_queue.consumer_timeout_seconds,
    });
    return async () => {
      await stopWork();
      metrics.isLeader.set(0);
    };
  }, { clock: ctx.clock, leaseMs: config.dispatcher.leader_lease_seconds * 1000 });
  stops.push(() => leadership.stop());
  return leadership;
}

async function startWorker(
  config: Config,
  db: Db | undefined,
  applyStatus: (events: StatusEvent[]) => Promise<void>,
  logger: Logger,
  metrics: Metrics,
  stops: Array<() => Promise<void>>,
): Promise<void> {
  const workerId = config.worker.worker_id;
  // loaded only by the modes that run a worker
  const [{ buildWorkerRegistry }, { Worker }] = await Promise.all([import('../worker/index.ts'), import('../worker/worker.ts')]);
  // worker.task_isolation = "namespace" that cannot be honoured is a configuration problem (exit 3), not the broker's
  const registry = await phase('config', () => buildWorkerRegistry(config, logger));
  const consumer = createConsumer(config, workerId, db, applyStatus, {
    onRejected: (message, reason) => logger.error({ runId: message.runId, attempt: message.attempt, pool: message.pool, reason }, 'run message refused: not signed by this installation; it is dead-lettered, not run'),
  });
  const worker = new Worker(
    consumer,
    registry,
    {
      workerId,
      pool: config.worker.pool,
      concurrency: config.worker.max_concurrent_tasks,
      heartbeatIntervalMs: config.worker.heartbeat_interval_seconds * 1000,
      drainTimeoutMs: config.worker.drain_timeout_seconds * 1000,
      outputLimitBytes: config.worker.output_limit_kb * 1024,
      version: VERSION,
      pollWaitMs: config.worker.task_poll_interval_seconds * 1000,
      onFinished: (message, result, durationMs) => {
        metrics.tasksExecuted.inc({ task_type: message.type, status: result.status });
        if (result.status === 'failed' || result.status === 'timed_out') metrics.taskFailures.inc();
        metrics.executionSeconds.observe({ task_type: message.type }, durationMs / 1000);
        // fire (or trigger) to start of the first attempt; a retry's wait is its backoff, not lag
        if (message.attempt === 1) metrics.scheduleLag.observe(Math.max(0, Date.now() - durationMs - Date.parse(message.scheduledTime)) / 1000);
      },
    },
    logger,
  );
  await worker.start();
  stops.push(async () => {
    await worker.stop();
    await consumer.close();
  });
}

function warnAboutAuth(config: Config, logger: Logger): void {
  const auth = config.api.auth;
  if (!auth.enabled) return;
  if (Object.keys(auth.api_keys).length === 0) {
    logger.warn('api.auth is enabled but no API keys are configured (api.auth.api_keys or API_KEYS): every /api request will be refused');
  }
}
