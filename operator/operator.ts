import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { parseBindAddress, type Config } from '../core/config/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import { deleteKubernetesTask } from '../core/dispatch/kubernetes-task-writes.ts';
import { kubernetesRunChanges, listKubernetesTasks, loadRunCursor, type RunChangeCursor, saveRunCursor } from '../core/store/index.ts';
import { HistoryRetention } from '../core/dispatch/retention.ts';
import { RESOURCE_KINDS } from '../core/model/resource.ts';
import { Controller } from './controller.ts';
import { DependencyIndex } from './dependency-index.ts';
import { EventRecorder } from './event-recorder.ts';
import { startHealthServer } from './health-server.ts';
import { loadKubeClients, type KubeClients } from './kube.ts';
import { LeaderElector } from './leader-election.ts';
import { ownImage } from './own-image.ts';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';
import { createPoolReconciler } from './pool-reconciler.ts';
import { eventsForRunChanges } from './run-events.ts';
import { LEGACY_FINALIZER_REMOVALS_PER_S } from './task-deletion.ts';
import { createTaskReconciler } from './task-reconciler.ts';

export type OperatorConfig = Config['operator'];

export interface OperatorOptions {
  ctx: CoreContext;
  config: OperatorConfig;
  /** the worker's drain time, so worker pods get enough termination grace */
  workerDrainSeconds: number;
  registry: Registry;
  logger: Logger;
}

interface LeaderWorkOptions extends OperatorOptions {
  leaseNamespace: string;
  /** [operator] worker_image, or the operator's own image when that is empty */
  workerImage: string;
}

export interface RunningOperator {
  healthUrl: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const RETENTION_INTERVAL_MS = 60_000;
/** how often the run cursor is saved while no run changes */
const CURSOR_SAVE_INTERVAL_MS = 5_000;

function leaseNamespace(configured: string): string {
  if (configured) return configured;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

/**
 * `scheduler --mode operator`: health endpoints at once, then a Lease election; only the leader watches
 * and reconciles, so two replicas run active/standby. A standby is ready (it can take over) but idle.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { config, logger } = options;
  const requestTimeoutMs = config.request_timeout_seconds * 1000;
  // the election has clients of its own: leader work closes its clients when it stops, the election never
  const kube = loadKubeClients(config.kubeconfig, requestTimeoutMs);
  const metrics = createOperatorMetrics(options.registry);
  const identity = config.identity || `${hostname()}-${process.pid}`;
  const namespace = leaseNamespace(config.lease_namespace);
  let work: LeaderWork | undefined;
  // read once before the election: starting leader work must not wait on an API call
  const workerImage = config.worker_image || (await ownImage(kube, logger));
  /** wall-clock start of the current leadership term, logged with its end so terms can be compared across replicas */
  let leadingFrom = 0;
  const elector = new LeaderElector(
    kube.coordination,
    {
      namespace,
      name: config.lease_name,
      identity,
      leaseDurationMs: config.lease_duration_seconds * 1000,
      renewDeadlineMs: config.renew_deadline_seconds * 1000,
      retryPeriodMs: config.retry_period_seconds * 1000,
      callTimeoutMs: requestTimeoutMs,
    },
    {
      onStartedLeading: async () => {
        metrics.isLeader.set(1);
        leadingFrom = Date.now();
        logger.info({ lease: config.lease_name, leadingFrom }, 'leader work started');
        // fresh clients per term: stepping down closes them, so no request of this term outlives it
        work = startLeaderWork({ ...options, leaseNamespace: namespace, workerImage }, loadKubeClients(config.kubeconfig, requestTimeoutMs), metrics, identity);
      },
      onStoppedLeading: async () => {
        metrics.isLeader.set(0);
        const stopping = work;
        work = undefined;
        await stopping?.stop();
        logger.warn({ lease: config.lease_name, leadingFrom, leadingUntil: Date.now() }, 'no longer the operator leader; standing by');
      },
    },
    logger,
  );
  const { host, port } = parseBindAddress(config.bind_address);
  const health = await startHealthServer(host, port, {
    healthy: () => true,
    ready: () => {
      const leader = elector.isLeader();
      const synced = work?.synced() ?? false;
      return { ready: !leader || synced, detail: { leader, synced } };
    },
  }, options.registry);
  elector.start();
  logger.info({ health: health.url, identity, namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'operator started; waiting for the Lease');
  return {
    healthUrl: health.url,
    isLeader: () => elector.isLeader(),
    async stop() {
      await elector.stop();
      await health.close();
    },
  };
}

interface LeaderWork {
  synced(): boolean;
  stop(): Promise<void>;
}

/** What only the leader does: reconcile both kinds, follow runs into statuses and Events, sweep orphans. */
function startLeaderWork(options: LeaderWorkOptions, kube: KubeClients, metrics: OperatorMetrics, identity: string): LeaderWork {
  const { ctx, config, logger } = options;
  const recorder = new EventRecorder(kube.core, logger, metrics, identity);
  const common = {
    namespaces: config.namespaces,
    kube,
    workers: config.reconcile_workers,
    resyncMs: config.resync_seconds * 1000,
    backoffMinMs: BACKOFF_MIN_MS,
    backoffMaxMs: BACKOFF_MAX_MS,
    metrics,
    logger,
  };
  /** every ScheduledTask's dependsOn edges, kept from the watch: cycle checks and neighbours without a walk of the cache */
  const dependencies = new DependencyIndex();
  /** a full list of ScheduledTasks was taken in since the last orphan sweep */
  let sweepDue = false;
  // `get` is called only once the controller below exists (reconciles start with it)
  const taskReconciler = createTaskReconciler({
    ctx, kube, recorder, logger,
    maxRequeueMs: config.task_requeue_seconds * 1000,
    graph: (namespace) => dependencies.graph(namespace),
    get: (key) => tasks.get(key),
  });
  const tasks = new Controller({
    ...common,
    kind: 'ScheduledTask',
    plural: RESOURCE_KINDS.ScheduledTask.plural,
    reconcile: taskReconciler.reconcile,
    prime: taskReconciler.prime,
    deleted: taskReconciler.deleted,
    listed: () => (sweepDue = true),
    related: (object, deleted) => {
      const namespace = object.metadata.namespace ?? '';
      const { related, changed } = dependencies.update(object, deleted);
      // A cycle member reconciled (Ready) before the task that closes the cycle arrived was enqueued here, then
      // skipped as the echo of its own status write, and stayed Ready for task_requeue_seconds. Only a change of
      // the edges counts: every status write comes through here too, and must not undo the echo skip.
      if (changed) for (const name of related) taskReconciler.relatedChanged(`${namespace}/${name}`);
      return related;
    },
  });
  const pools = new Controller({
    ...common,
    kind: 'WorkerPool',
    plural: RESOURCE_KINDS.WorkerPool.plural,
    reconcile: createPoolReconciler({
      ctx, kube, recorder, logger,
      workerImage: options.workerImage,
      workerSecret: config.worker_secret,
      policy: { defaultImage: options.workerImage, allowedImages: config.allowed_worker_images, allowedEnvSecrets: config.allowed_env_secrets, allowControlPlane: config.allow_control_plane_nodes },
      drainSeconds: options.workerDrainSeconds,
      resyncMs: config.pool_resync_seconds * 1000,
    }),
  });
  tasks.start();
  pools.start();

  let stopped = false;
  let cursor: RunChangeCursor | undefined;
  let cursorLoaded = false;
  let savedAt = 0;
  const cursorKey = `${options.leaseNamespace}/${config.lease_name}`;
  /** run changes -> Events and task reconciles; then, after each full resync, tasks whose resource is gone */
  const followRuns = async () => {
    // Events need the resources in the cache: before the first sync, a change would find no object
    if (!tasks.synced) return;
    if (!cursorLoaded) {
      cursor = await loadRunCursor(ctx.db, cursorKey);
      cursorLoaded = true;
      if (cursor) logger.info({ afterId: cursor.afterId, upTo: cursor.upTo }, 'following runs from where the last leader stopped');
    }
    const { changes, cursor: next } = await kubernetesRunChanges(ctx.db, cursor);
    for (const [key, events] of eventsForRunChanges(changes)) {
      const object = tasks.get(key);
      if (!object) continue;
      for (const event of events) await recorder.recordOrThrow(object, event);
    }
    cursor = next;
    // saved once its Events are written; an idle cursor only now and then (the window it skips holds nothing)
    if (!stopped && (changes.length > 0 || Date.now() - savedAt >= CURSOR_SAVE_INTERVAL_MS)) {
      await saveRunCursor(ctx.db, cursorKey, next, new Date(ctx.now()));
      savedAt = Date.now();
    }
    for (const change of changes) {
      const key = `${change.namespace}/${change.name}`;
      taskReconciler.runsChanged(key);
      tasks.enqueue(key);
    }
    // after every full list (the initial sync, each resync, each relist after 410 Gone): deletions no watch saw
    if (tasks.synced && sweepDue) {
      sweepDue = false;
      await sweepOrphans().catch((error: unknown) => {
        sweepDue = true;
        throw error;
      });
    }
    await taskReconciler.removeLegacyFinalizers(Math.ceil((LEGACY_FINALIZER_REMOVALS_PER_S * config.run_poll_interval_ms) / 1000));
  };
  const sweepOrphans = async () => {
    const live = new Set(tasks.keys());
    for (const task of await listKubernetesTasks(ctx.db, config.namespaces)) {
      if (live.has(`${task.namespace}/${task.name}`)) continue;
      const cancelled = await deleteKubernetesTask(ctx, task.namespace, task.name);
      logger.info({ task: `${task.namespace}/${task.name}`, cancelled }, 'deleted the task of a ScheduledTask that no longer exists');
    }
  };
  const poll = (async () => {
    while (!stopped) {
      try {
        await followRuns();
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'following runs failed; retrying');
      }
      await new Promise((resolve) => setTimeout(resolve, config.run_poll_interval_ms));
    }
  })();
  // the dispatcher's leader prunes too; this covers run_dispatcher = false (idempotent when both do)
  const history = new HistoryRetention(ctx);
  const retention = setInterval(() => {
    history.pass().catch((error: Error) => logger.warn({ err: error.message }, 'history retention pass failed'));
  }, RETENTION_INTERVAL_MS);
  return {
    synced: () => tasks.synced && pools.synced,
    async stop() {
      stopped = true;
      clearInterval(retention);
      // abort every API call of this term first, so a hung one cannot delay the stop past the lease
      kube.close();
      await Promise.all([tasks.stop(), pools.stop()]);
      await poll;
    },
  };
}
