import type { V1Deployment } from '@kubernetes/client-node';
import type { PoolLoad } from '../core/store/index.ts';
import { condition } from './conditions.ts';
import type { Condition, WorkerPoolStatus } from './crd-status.ts';
import { selectorString, workerDeploymentName } from './pool-deployment.ts';
import type { ScaleDecision } from './pool-scaling.ts';

export interface PoolStatusInput {
  previous: WorkerPoolStatus | undefined;
  generation: number;
  decision: ScaleDecision;
  deployment: V1Deployment | undefined;
  load: PoolLoad;
  scaledNow: boolean;
  now: Date;
  name: string;
  min: number;
}

/** The status of a pool: replica counts, load, and three conditions (Ready, ScalingActive, Degraded). */
export function poolStatus(input: PoolStatusInput): WorkerPoolStatus {
  const { previous, decision, load, now } = input;
  const alive = load.workers.filter((w) => !w.draining).length;
  const wanted = Math.min(decision.replicas, Math.max(1, input.min));
  const ready: Omit<Condition, 'lastTransitionTime'> =
    decision.replicas === 0
      ? { type: 'Ready', status: 'True', reason: 'ScaledToZero', message: 'no replicas are needed', observedGeneration: input.generation }
      : alive >= wanted
        ? { type: 'Ready', status: 'True', reason: 'WorkersAlive', message: `${alive} worker(s) heartbeating`, observedGeneration: input.generation }
        : { type: 'Ready', status: 'False', reason: 'WaitingForWorkers', message: `${alive} of ${wanted} worker(s) heartbeating`, observedGeneration: input.generation };
  const scaling: Omit<Condition, 'lastTransitionTime'> =
    decision.reason === 'External'
      ? { type: 'ScalingActive', status: 'False', reason: 'ExternalScaler', message: 'spec.replicas.desired is set (scale subresource): an HPA, KEDA or kubectl scale decides', observedGeneration: input.generation }
      : { type: 'ScalingActive', status: 'True', reason: decision.reason, message: 'replicas follow the backlog', observedGeneration: input.generation };
  const degraded: Omit<Condition, 'lastTransitionTime'> = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'the spec is within what the operator allows', observedGeneration: input.generation };
  const status: WorkerPoolStatus = {
    observedGeneration: input.generation,
    conditions: [ready, scaling, degraded].map((c) => condition(previous?.conditions, c, now)),
    replicas: input.deployment?.status?.replicas ?? 0,
    readyReplicas: input.deployment?.status?.readyReplicas ?? 0,
    desiredReplicas: decision.replicas,
    backlog: load.backlog,
    activeRuns: load.activeRuns,
    selector: selectorString(input.name),
    deployment: workerDeploymentName(input.name),
  };
  const lastScaleTime = input.scaledNow ? now.toISOString() : previous?.lastScaleTime;
  if (lastScaleTime) status.lastScaleTime = lastScaleTime;
  return status;
}
