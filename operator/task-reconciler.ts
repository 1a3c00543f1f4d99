import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { CoreContext } from '../core/dispatch/context.ts';
import { manualRunTime, triggerKubernetesTask, upsertKubernetesTask } from '../core/dispatch/kubernetes-task-writes.ts';
import { checkSchedule } from '../core/dispatch/tasks.ts';
import { API_GROUP, API_VERSION, API_VERSION_NAME, RESOURCE_KINDS, TRIGGER_ANNOTATION, parseManifest, type ScheduledTaskManifest } from '../core/model/resource.ts';
import { ValidationError, type Task, type TaskSpec } from '../core/model/index.ts';
import { compileSchedule } from '../core/schedule/index.ts';
import { ConflictError, createKubernetesTasks, findTask, findTasksByKey, kubernetesPoolNamespaces, kubernetesPoolOwners, type KubernetesTaskWrite, taskRunState, type TaskRunState, taskRunStates } from '../core/store/index.ts';
import type { ReconcileResult } from './controller.ts';
import type { ScheduledTaskStatus } from './crd-status.ts';
import type { EventRecorder } from './event-recorder.ts';
import { objectKey, splitKey, type KubeClients, type KubeObject } from './kube.ts';
import { statusPatch } from './conditions.ts';
import { cycleThrough, unseenDependency, type DependencyGraph } from './dependency-cycles.ts';
import { createTaskDeletion } from './task-deletion.ts';
import { desiredTaskStatus, newProblem, type SpecProblem } from './task-status.ts';

export interface TaskReconcilerDeps {
  ctx: CoreContext;
  kube: KubeClients;
  recorder: EventRecorder;
  logger: Logger;
  /** a task is looked at again at least this often (its next slot usually comes first) */
  maxRequeueMs: number;
  /** the cached object of a key */
  get: (key: string) => KubeObject | undefined;
  /** the desired dependsOn graph of a namespace (every ScheduledTask seen, nodes with edges only), for cycles */
  graph: (namespace: string) => DependencyGraph;
}

const plural = RESOURCE_KINDS.ScheduledTask.plural;
/** how long a new task with dependsOn waits for the tasks it names to arrive (those of the same kubectl apply) */
const DEPENDENCY_GRACE_MS = 3000;
const DEPENDENCY_RETRY_MS = 200;
/** objects of a relist prepared in bulk at once: the first chunk, then twice as many each time up to the last */
const PRIME_FIRST_CHUNK = 250;
const PRIME_MAX_CHUNK = 2000;

export interface TaskReconciler {
  reconcile(key: string, object: KubeObject | undefined): Promise<ReconcileResult | void>;
  /** Before a relist's objects are reported: starts registering and reading them in bulk (in chunks), so each reconcile needs no query. */
  prime(objects: KubeObject[]): Promise<void>;
  /** A DELETED event: the next reconcile of the key deletes the task of that object (also when a new object took its name). */
  deleted(key: string, object: KubeObject): void;
  /** Removes the finalizer older operators added from up to `limit` live objects (see task-deletion.ts). */
  removeLegacyFinalizers(limit: number): Promise<void>;
  /** Runs of the key changed: what prime read, or the last write's echo, no longer tells its status. */
  runsChanged(key: string): void;
  /**
   * A task it names in dependsOn, or one naming it, changed: its place on a cycle may have too, so its next
   * reconcile judges it again instead of skipping the cached object as the echo of its own last write.
   */
  relatedChanged(key: string): void;
}

/** What prime() read for one object, valid only for that resourceVersion of it. */
interface Primed {
  resourceVersion: string | undefined;
  task: Task;
  runs: TaskRunState | undefined;
}

/**
 * ScheduledTask -> Hourglass. Level-triggered: reads the resource and the task's runs, writes the task
 * (only when its spec changed), fires a manual run for a new trigger annotation value, and patches the
 * status only when it differs. A spec the core refuses (bad cron, unknown zone) is a terminal condition
 * for this generation, reported as Degraded with an Event, and never retried in a loop.
 */
export function createTaskReconciler(deps: TaskReconcilerDeps): TaskReconciler {
  const { ctx, kube, recorder } = deps;
  /** triggers whose intent was written but whose status may not be in the cache yet (a retry must reuse it) */
  const pending = new Map<string, { value: string; time: string }>();
  const primed = new Map<string, Primed>();
  /**
   * The resourceVersions our own last successful reconcile of a key produced, and when it wanted to look
   * again. The watch event of such a write brings back exactly what that reconcile wrote, from the same
   * database state (run changes clear the entry), so it is skipped, once, instead of costing two queries.
   */
  const echoes = new Map<string, { resourceVersions: string[]; requeueAtMs: number; graphVersion: number }>();
  /** bumped whenever a task's dependsOn neighbours change: an echo recorded under an older graph proves nothing */
  let graphVersion = 0;

  const deletion = createTaskDeletion(deps);
  const patchStatus = (namespace: string, name: string, status: unknown): Promise<KubeObject> =>
    kube.patchStatus({ group: API_GROUP, version: API_VERSION_NAME, namespace, plural, name }, status);

  /** the prime that prepares each key (one per reflector; a later relist of the key takes it over) */
  let primeRuns = 0;
  const primeRunOf = new Map<string, number>();
  /** keys whose chunk is not done: their reconcile waits for it */
  const priming = new Map<string, Promise<void>>();
  /** keys whose runs changed while their chunk was being read: its run state may predate the change */
  const runsStale = new Set<string>();

  /**
   * A relist: in list order and in chunks (small first, so that status writes start at once), tasks that
   * are new are created in bulk and the tasks and run states of all are read in bulk. Returns once that has
   * started: the objects are reported (and queued) meanwhile, and the reconcile of a key waits for its
   * chunk, so the API server takes the first chunks' status writes while later chunks are prepared. Chunks
   * are registered one after another without waiting for the run states of the last (read meanwhile), so
   * that the tasks are in Postgres about as soon as when all were registered first. A chunk that fails
   * leaves its objects to their own reconciles. The relist of another reflector (namespace) leaves these
   * keys alone; a later relist of the same keys takes them over.
   */
  async function prime(objects: KubeObject[]): Promise<void> {
    const run = ++primeRuns;
    const owned = (key: string) => primeRunOf.get(key) === run;
    for (const object of objects) {
      const key = objectKey(object);
      primeRunOf.set(key, run);
      primed.delete(key);
      runsStale.delete(key);
    }
    let owners: Promise<Map<string, string[]>> | undefined;
    let registering: Promise<unknown> = Promise.resolve();
    const chunks: Promise<void>[] = [];
    const counts = { created: 0, primed: 0 };
    for (let start = 0, size = PRIME_FIRST_CHUNK; start < objects.length; start += size, size = Math.min(size * 2, PRIME_MAX_CHUNK)) {
      const chunk = objects.slice(start, start + size);
      const registered = registering.then(() => registerChunk(chunk.filter((o) => owned(objectKey(o))), () => (owners ??= kubernetesPoolOwners(ctx.db))));
      registering = registered.catch(() => undefined);
      const done: Promise<void> = registered.then(async (result) => {
        const ready = result?.ready.filter((r) => owned(r.key)) ?? [];
        counts.created += result?.created ?? 0;
        if (ready.length === 0) return;
        const runs = await taskRunStates(ctx.db, ready.map((r) => r.task.id));
        for (const { key, resourceVersion, task } of ready) {
          if (!owned(key)) continue;
          primed.set(key, { resourceVersion, task, runs: runsStale.has(key) ? undefined : runs.get(task.id) });
          counts.primed += 1;
        }
      }).catch((error: unknown) => deps.logger.warn({ objects: chunk.length, err: (error as Error).message }, 'bulk preparation of relisted ScheduledTasks failed; reconciling them one by one')).finally(() => {
        for (const object of chunk) {
          const key = objectKey(object);
          if (!owned(key)) continue;
          primeRunOf.delete(key);
          priming.delete(key);
          runsStale.delete(key);
        }
      });
      for (const object of chunk) priming.set(objectKey(object), done);
      chunks.push(done);
    }
    void Promise.all(chunks).then(() => deps.logger.debug({ objects: objects.length, ...counts }, 'ScheduledTasks registered in bulk'));
  }

  /** The tasks of a chunk of relisted objects: found, or created when new; those whose reconcile may use them. */
  async function registerChunk(objects: KubeObject[], poolOwners: () => Promise<Map<string, string[]>>): Promise<{ created: number; ready: Array<{ key: string; resourceVersion: string | undefined; task: Task }> } | undefined> {
    let candidates: Array<{ key: string; object: KubeObject; write: KubernetesTaskWrite }> = [];
    for (const object of objects) {
      if (object.metadata.deletionTimestamp) continue;
      const namespace = object.metadata.namespace ?? '';
      try {
        const manifest = parseManifest({ apiVersion: API_VERSION, kind: 'ScheduledTask', metadata: object.metadata, spec: object.spec }) as ScheduledTaskManifest;
        checkSchedule(manifest.spec.schedule, manifest.spec.timeZone);
        // a cycle check reads other tasks one by one, and problems are reported by the reconcile: both stay there
        if (manifest.spec.dependsOn.length > 0) continue;
        candidates.push({ key: objectKey(object), object, write: { namespace, name: manifest.name, labels: manifest.labels, spec: manifest.spec } });
      } catch {
        continue;
      }
    }
    if (candidates.length === 0) return undefined;
    const owners = await poolOwners();
    // a task naming another namespace's pool is refused by its own reconcile, never created here
    candidates = candidates.filter((c) => !foreignPool(c.write.namespace, c.write.spec.pool, owners.get(c.write.spec.pool) ?? []));
    const existing = await findTasksByKey(ctx.db, candidates.map((c) => c.write));
    const created = await createKubernetesTasks(ctx.db, candidates.filter((c) => !existing.has(c.key)).map((c) => c.write));
    const ready: Array<{ key: string; resourceVersion: string | undefined; task: Task }> = [];
    for (const { key, object, write } of candidates) {
      const task = existing.get(key) ?? created.get(key);
      // a REST task of that name, or a spec that changed: the reconcile's own path reports or updates it
      if (!task || task.source !== 'kubernetes' || !isDeepStrictEqual(task.spec, write.spec) || !isDeepStrictEqual(task.labels, write.labels)) continue;
      ready.push({ key, resourceVersion: object.metadata.resourceVersion, task });
    }
    return { created: created.size, ready };
  }

  /** first reconcile of new tasks waiting for a task they reach through dependsOn to be seen */
  const awaiting = new Map<string, number>();
  function awaitingDependencies(key: string, object: KubeObject, namespace: string): boolean {
    const dependsOn = (object.spec as { dependsOn?: unknown } | undefined)?.dependsOn;
    const registered = (object.status as ScheduledTaskStatus | undefined)?.taskId !== undefined;
    const missing = registered || !Array.isArray(dependsOn) ? undefined : unseenDependency(dependsOn.filter((d): d is string => typeof d === 'string'), deps.graph(namespace), (name) => deps.get(`${namespace}/${name}`) !== undefined);
    const since = awaiting.get(key) ?? ctx.now();
    if (missing === undefined || ctx.now() - since >= DEPENDENCY_GRACE_MS) {
      awaiting.delete(key);
      return false;
    }
    awaiting.set(key, since);
    return true;
  }

  function runsChanged(key: string): void {
    echoes.delete(key);
    if (priming.has(key)) runsStale.add(key);
    const entry = primed.get(key);
    if (entry) entry.runs = undefined;
  }

  async function reconcileTask(key: string, object: KubeObject | undefined): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    // relisted and its chunk still being prepared: what it stores saves this reconcile its queries
    const chunk = priming.get(key);
    if (chunk) await chunk;
    const primedEntry = primed.get(key);
    primed.delete(key);
    const echo = echoes.get(key);
    echoes.delete(key);
    // a reconcile running while a neighbour changes records its echo under the graph it read
    const readGraphVersion = graphVersion;
    // gone, being deleted, or replaced by a new object of that name: its task goes first (no finalizer holds
    // the object for it: a deletion is seen by the watch, and one made while no operator ran by the orphan sweep)
    if (await deletion.settle(key, object) || !object) return;
    const resourceVersion = object.metadata.resourceVersion;
    const echoAt = resourceVersion === undefined ? -1 : (echo?.resourceVersions.indexOf(resourceVersion) ?? -1);
    if (echo && echoAt >= 0 && echo.requeueAtMs > ctx.now() && echo.graphVersion === graphVersion) {
      const later = echo.resourceVersions.slice(echoAt + 1);
      if (later.length > 0) echoes.set(key, { ...echo, resourceVersions: later });
      return { requeueAfterMs: echo.requeueAtMs - ctx.now() };
    }
    const written: string[] = [];
    const wrote = (result: KubeObject) => {
      if (result?.metadata?.resourceVersion) written.push(result.metadata.resourceVersion);
    };
    const previous = object.status as ScheduledTaskStatus | undefined;
    const generation = object.metadata.generation ?? 1;
    const usable = primedEntry && primedEntry.resourceVersion === resourceVersion ? primedEntry : undefined;
    if (!usable && awaitingDependencies(key, object, namespace)) return { requeueAfterMs: DEPENDENCY_RETRY_MS };
    const { task, problem } = usable ? { task: usable.task, problem: undefined } : await register(ctx, object, namespace, deps.graph);
    const now = new Date(ctx.now());

    let lastTrigger = previous?.lastTrigger;
    let pendingWritten = false;
    const trigger = object.metadata.annotations?.[TRIGGER_ANNOTATION];
    if (trigger !== undefined && trigger !== lastTrigger) {
      if (task) {
        // the intent (value, time) is made durable before the run, and the run is keyed by that time:
        // a retry or a new leader re-creates the same run, which is a no-op
        const known = pending.get(key) ?? previous?.pendingTrigger;
        const intent = known?.value === trigger ? known : { value: trigger, time: manualRunTime(task, ctx.now()).toISOString() };
        if (intent !== previous?.pendingTrigger) {
          pending.set(key, intent);
          wrote(await patchStatus(namespace, name, { pendingTrigger: intent }));
          pendingWritten = true;
        }
        const created = await triggerKubernetesTask(ctx, task, new Date(intent.time));
        deps.logger.info({ task: key, trigger, at: intent.time, created }, 'manual trigger from the annotation');
      } else {
        await recorder.record(object, { type: 'Warning', reason: 'TriggerIgnored', message: `trigger "${trigger}" ignored: the task has no valid spec yet` });
      }
      lastTrigger = trigger;
    }

    const spec: TaskSpec | undefined = task?.spec;
    const runs = task ? (usable?.runs ?? (await taskRunState(ctx.db, task.id))) : undefined;
    const nextScheduleMs = spec ? nextSlot(spec, runs?.lastScheduledTime ?? null, now.getTime()) : undefined;
    const status = desiredTaskStatus({ generation, previous, spec, taskId: task?.id, problem, runs, nextScheduleMs, lastTrigger, now });
    const patch = statusPatch(previous, status) ?? (pendingWritten ? {} : undefined);
    if (patch && (pendingWritten || previous?.pendingTrigger)) patch['pendingTrigger'] = null;
    if (patch) wrote(await patchStatus(namespace, name, patch));
    pending.delete(key);
    const announced = newProblem(previous, status);
    if (announced) await recorder.record(object, { type: 'Warning', reason: announced.reason, message: announced.message });

    // just after the next slot, to show it as lastScheduleTime (run changes requeue sooner anyway)
    const requeueAfterMs = nextScheduleMs === undefined ? deps.maxRequeueMs : Math.min(Math.max(250, nextScheduleMs - now.getTime() + 1000), deps.maxRequeueMs);
    if (written.length > 0) echoes.set(key, { resourceVersions: written, requeueAtMs: now.getTime() + requeueAfterMs, graphVersion: readGraphVersion });
    return { requeueAfterMs };
  }

  function relatedChanged(key: string): void {
    graphVersion++;
    echoes.delete(key);
  }

  return { reconcile: reconcileTask, prime, runsChanged, relatedChanged, deleted: deletion.deleted, removeLegacyFinalizers: deletion.removeLegacyFinalizers };
}

/** The spec into Postgres; a problem the user must fix is returned, not thrown, with the task still in effect. */
async function register(ctx: CoreContext, object: KubeObject, namespace: string, desired: (namespace: string) => DependencyGraph): Promise<{ task: Task | undefined; problem: SpecProblem | undefined }> {
  let manifest: ScheduledTaskManifest;
  try {
    manifest = parseManifest({ apiVersion: API_VERSION, kind: 'ScheduledTask', metadata: object.metadata, spec: object.spec }) as ScheduledTaskManifest;
    // against everything applied, not only what is stored: members of one cycle may be reconciled at once
    const graph = new Map(desired(namespace));
    graph.set(manifest.name, manifest.spec.dependsOn);
    const cycle = cycleThrough(manifest.name, graph);
    if (cycle) throw new ValidationError('task', [{ path: 'dependsOn', message: `creates a cycle: ${cycle.join(' -> ')}` }]);
    const poolProblem = foreignPool(namespace, manifest.spec.pool, await kubernetesPoolNamespaces(ctx.db, manifest.spec.pool));
    if (poolProblem) throw new ValidationError('task', [{ path: 'pool', message: poolProblem }]);
    const { task } = await upsertKubernetesTask(ctx, { namespace, name: manifest.name, labels: manifest.labels, spec: manifest.spec });
    return { task, problem: undefined };
  } catch (error) {
    const problem = specProblem(error);
    if (!problem) throw error;
    return { task: await findTask(ctx.db, object.metadata.name, namespace), problem };
  }
}

/** A user error in the spec, classified for the Degraded condition; undefined for a transient failure. */
export function specProblem(error: unknown): SpecProblem | undefined {
  if (error instanceof ConflictError) return { reason: 'NameConflict', message: error.message };
  if (!(error instanceof ValidationError)) return undefined;
  const paths = error.problems.map((p) => p.path.replace(/^spec\./, ''));
  const cycle = error.problems.some((p) => p.path === 'dependsOn' && /cycle|itself/.test(p.message));
  const reason = paths.includes('schedule') ? 'InvalidSchedule' : paths.includes('timeZone') ? 'UnknownTimeZone' : cycle ? 'DependencyCycle' : paths.includes('pool') ? 'PoolInOtherNamespace' : 'InvalidSpec';
  return { reason, message: error.problems.map((p) => `${p.path}: ${p.message}`).join('; ') };
}

/**
 * Why a task of `namespace` may not use `pool` (whose WorkerPools live in `owners`), or undefined. A pool
 * no namespace declared is allowed (workers outside Kubernetes, or a pool created later, which then
 * belongs to the first namespace that declares it).
 */
export function foreignPool(namespace: string, pool: string, owners: string[]): string | undefined {
  if (owners.length === 0 || owners.includes(namespace)) return undefined;
  return `pool "${pool}" is the WorkerPool of namespace ${owners.join(', ')}; a ScheduledTask can only use a WorkerPool of its own namespace`;
}

/** The next slot the dispatcher will fire, or undefined when none will (suspended, on demand, ended). */
export function nextSlot(spec: TaskSpec, lastScheduled: Date | null, nowMs: number): number | undefined {
  if (!spec.schedule || spec.suspend) return undefined;
  try {
    const schedule = compileSchedule(spec.schedule, spec.timeZone);
    return schedule.next(Math.max(nowMs, lastScheduled?.getTime() ?? -Infinity)) ?? undefined;
  } catch {
    return undefined;
  }
}
