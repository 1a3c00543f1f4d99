import type { Logger } from 'pino';
import type { V1Deployment } from '@kubernetes/client-node';
import type { CoreContext } from '../core/dispatch/context.ts';
import { kubernetesPoolNamespaces, otherNamespacesUsingPool, poolLoad, type PoolLoad } from '../core/store/index.ts';
import { API_GROUP, API_VERSION, API_VERSION_NAME, RESOURCE_KINDS, parseManifest, type WorkerPoolManifest } from '../core/model/resource.ts';
import { ValidationError, type WorkerPoolSpec } from '../core/model/index.ts';
import type { ReconcileResult } from './controller.ts';
import type { WorkerPoolStatus } from './crd-status.ts';
import type { EventRecorder } from './event-recorder.ts';
import { MERGE_PATCH, describeKubeError, isNotFound, splitKey, type KubeClients, type KubeObject } from './kube.ts';
import { TEMPLATE_HASH_ANNOTATION, buildWorkerDeployment, buildWorkerNetworkPolicy, selectorString, workerDeploymentName } from './pool-deployment.ts';
import { POD_DELETION_COST, decideReplicas, podDeletionCosts, type ScaleDecision } from './pool-scaling.ts';
import { condition, statusPatch } from './conditions.ts';
import { poolPolicyProblems, type PoolPolicy } from './pool-policy.ts';
import { poolStatus } from './pool-status.ts';
import { mirrorPool, unmirrorPool } from './pool-store.ts';

export interface PoolReconcilerDeps {
  ctx: CoreContext;
  kube: KubeClients;
  recorder: EventRecorder;
  logger: Logger;
  workerImage: string;
  workerSecret: string;
  policy: PoolPolicy;
  drainSeconds: number;
  /** how often a pool's backlog is looked at */
  resyncMs: number;
}

const plural = RESOURCE_KINDS.WorkerPool.plural;

/**
 * WorkerPool -> one worker Deployment. Each pass reads the pool's backlog from Postgres, decides the
 * replica count (or takes spec.replicas.desired from an HPA/KEDA through the scale subresource), marks idle
 * pods cheapest to delete before scaling in, applies the Deployment only where it differs, and writes
 * the status when it changed. The Deployment is owned by the pool, so deleting the pool deletes it.
 */
export function createPoolReconciler(deps: PoolReconcilerDeps) {
  const { ctx, kube, recorder } = deps;
  /** since when each pool could have run with fewer replicas (scale-in waits scaleDownDelaySeconds) */
  const lowSince = new Map<string, number>();

  const patchStatus = (namespace: string, name: string, status: unknown) =>
    kube.custom.patchNamespacedCustomObjectStatus({ group: API_GROUP, version: API_VERSION_NAME, namespace, plural, name, body: { status } }, MERGE_PATCH);

  async function readDeployment(namespace: string, name: string): Promise<V1Deployment | undefined> {
    try {
      return await kube.apps.readNamespacedDeployment({ namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Pods of the pool get their deletion cost before the replica count drops, so idle ones go first. */
  async function markDeletionCosts(namespace: string, pool: string, load: PoolLoad): Promise<void> {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selectorString(pool) });
    const costs = podDeletionCosts(pods.items.map((p) => p.metadata?.name ?? ''), load.workers);
    for (const pod of pods.items) {
      const podName = pod.metadata?.name ?? '';
      const cost = String(costs.get(podName));
      if (pod.metadata?.annotations?.[POD_DELETION_COST] === cost) continue;
      await kube.core.patchNamespacedPod({ namespace, name: podName, body: { metadata: { annotations: { [POD_DELETION_COST]: cost } } } }, MERGE_PATCH);
    }
  }

  async function applyDeployment(object: KubeObject, spec: WorkerPoolSpec, decision: ScaleDecision, current: V1Deployment | undefined, load: PoolLoad): Promise<boolean> {
    const { namespace = 'default', name, uid = '' } = object.metadata;
    const desired = buildWorkerDeployment({ pool: { name, namespace, uid }, spec, replicas: decision.replicas, defaultImage: deps.workerImage, secretName: deps.workerSecret, drainSeconds: deps.drainSeconds });
    if (!current) {
      await kube.apps.createNamespacedDeployment({ namespace, body: desired });
      await recorder.record(object, { type: 'Normal', reason: 'SuccessfulCreate', message: `Created Deployment ${desired.metadata.name} with ${decision.replicas} replica(s)` });
      return true;
    }
    const templateChanged = current.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION] !== desired.metadata.annotations[TEMPLATE_HASH_ANNOTATION];
    const scaled = current.spec?.replicas !== decision.replicas;
    if (!templateChanged && !scaled) return false;
    if (scaled && (current.spec?.replicas ?? 0) > decision.replicas) await markDeletionCosts(namespace, name, load);
    const body = templateChanged ? { metadata: { labels: desired.metadata.labels, annotations: desired.metadata.annotations }, spec: desired.spec } : { spec: { replicas: decision.replicas } };
    await kube.apps.patchNamespacedDeployment({ namespace, name: desired.metadata.name, body }, MERGE_PATCH);
    if (scaled) {
      await recorder.record(object, { type: 'Normal', reason: 'Scaled', message: `Scaled ${desired.metadata.name} from ${current.spec?.replicas ?? 0} to ${decision.replicas} replica(s) (${decision.reason})` });
    }
    return scaled;
  }

  /** pools (by uid) whose NetworkPolicy is known to exist: looked up once per pool and leadership term */
  const policies = new Set<string>();
  async function ensureNetworkPolicy(object: KubeObject): Promise<void> {
    const { namespace = 'default', name, uid = '' } = object.metadata;
    if (policies.has(uid)) return;
    const body = buildWorkerNetworkPolicy({ name, namespace, uid });
    try {
      await kube.networking.readNamespacedNetworkPolicy({ namespace, name: body.metadata.name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await kube.networking.createNamespacedNetworkPolicy({ namespace, body });
    }
    policies.add(uid);
  }

  return async function reconcilePool(key: string, object: KubeObject | undefined): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    if (!object) {
      lowSince.delete(key);
      await unmirrorPool(ctx.db, namespace, name);
      return;
    }
    if (object.metadata.deletionTimestamp) return;
    const previous = object.status as WorkerPoolStatus | undefined;
    const generation = object.metadata.generation ?? 1;
    const now = new Date(ctx.now());
    /** a spec the operator will not act on: Ready False and Degraded True with the reason, the Deployment left as it was */
    const refuse = async (reason: string, message: string): Promise<ReconcileResult> => {
      const conditions = [
        condition(previous?.conditions, { type: 'Ready', status: 'False', reason, message, observedGeneration: generation }, now),
        condition(previous?.conditions, { type: 'Degraded', status: 'True', reason, message, observedGeneration: generation }, now),
      ];
      const patch = statusPatch(previous, { ...previous, observedGeneration: generation, conditions });
      if (patch) {
        await patchStatus(namespace, name, patch);
        await recorder.record(object, { type: 'Warning', reason, message });
      }
      return { requeueAfterMs: deps.resyncMs * 10 };
    };
    let manifest: WorkerPoolManifest;
    try {
      manifest = parseManifest({ apiVersion: API_VERSION, kind: 'WorkerPool', metadata: object.metadata, spec: object.spec ?? {} }) as WorkerPoolManifest;
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return refuse('InvalidSpec', error.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    }
    const spec = manifest.spec;
    const refusals = poolPolicyProblems(spec, deps.policy);
    if (refusals.length > 0) return refuse('PolicyViolation', refusals.join('; '));
    // workers consume a pool by name: one name, one namespace, so no namespace's tasks reach another's workers
    // (checked until the pool is first mirrored: from then on the name is this namespace's)
    const owners = await kubernetesPoolNamespaces(ctx.db, name);
    if (!owners.includes(namespace)) {
      const others = owners.length > 0 ? owners : await otherNamespacesUsingPool(ctx.db, name, namespace);
      if (others.length > 0) return refuse('PoolNameTaken', `pool name "${name}" is already used in namespace ${others.join(', ')}; a pool name belongs to one namespace`);
    }
    await mirrorPool(ctx.db, { namespace, name, labels: manifest.labels, spec });
    const load = await poolLoad(ctx.db, name);
    const current = await readDeployment(namespace, workerDeploymentName(name));
    const decision = decideReplicas({
      min: spec.replicas.min,
      max: spec.replicas.max,
      override: spec.replicas.desired,
      backlog: load.backlog,
      activeRuns: load.activeRuns,
      concurrency: spec.concurrency,
      backlogPerReplica: spec.scaling.backlogPerReplica,
      scaleDownDelayMs: spec.scaling.scaleDownDelaySeconds * 1000,
      current: current?.spec?.replicas,
      lowSinceMs: lowSince.get(key),
      nowMs: now.getTime(),
    });
    if (decision.lowSinceMs === undefined) lowSince.delete(key);
    else lowSince.set(key, decision.lowSinceMs);
    const scaledNow = await applyDeployment(object, spec, decision, current, load).catch((error: unknown) => {
      deps.logger.warn({ pool: key, err: describeKubeError(error) }, 'could not apply the worker Deployment');
      throw error;
    });
    await ensureNetworkPolicy(object);
    const status = poolStatus({ previous, generation, decision, deployment: current, load, scaledNow, now, name, min: spec.replicas.min });
    const patch = statusPatch(previous, status);
    if (patch) await patchStatus(namespace, name, patch);
    return { requeueAfterMs: deps.resyncMs };
  };
}
