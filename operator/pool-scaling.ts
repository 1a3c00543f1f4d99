export interface ScaleInput {
  min: number;
  max: number;
  /** spec.replicas.desired, written through the scale subresource: an HPA or KEDA is in charge */
  override: number | undefined;
  backlog: number;
  activeRuns: number;
  concurrency: number;
  backlogPerReplica: number;
  scaleDownDelayMs: number;
  /** the Deployment's spec.replicas; undefined when there is no Deployment yet */
  current: number | undefined;
  /** since when a smaller replica count has been enough, if it has */
  lowSinceMs: number | undefined;
  nowMs: number;
}

export type ScaleReason = 'External' | 'Initial' | 'ScaleUp' | 'ScaleDown' | 'Steady' | 'ScaleDownDelayed';

export interface ScaleDecision {
  replicas: number;
  lowSinceMs: number | undefined;
  reason: ScaleReason;
}

/**
 * How many worker replicas a pool needs: enough to keep its running runs (`concurrency` each) plus one per
 * `backlogPerReplica` queued runs, within [min, max]. Scaling up is immediate; scaling in waits until a
 * smaller count has been enough for scaleDownDelay without a break, so a bursty backlog does not flap.
 * A count above max (max was lowered) is cut at once.
 */
export function decideReplicas(input: ScaleInput): ScaleDecision {
  if (input.override !== undefined) return { replicas: input.override, lowSinceMs: undefined, reason: 'External' };
  const needed = Math.ceil(input.activeRuns / input.concurrency) + Math.ceil(input.backlog / input.backlogPerReplica);
  const target = Math.min(input.max, Math.max(input.min, needed));
  if (input.current === undefined) return { replicas: target, lowSinceMs: undefined, reason: 'Initial' };
  if (target > input.current) return { replicas: target, lowSinceMs: undefined, reason: 'ScaleUp' };
  if (target === input.current) return { replicas: target, lowSinceMs: undefined, reason: 'Steady' };
  if (input.current > input.max) return { replicas: target, lowSinceMs: undefined, reason: 'ScaleDown' };
  const lowSinceMs = input.lowSinceMs ?? input.nowMs;
  if (input.nowMs - lowSinceMs >= input.scaleDownDelayMs) return { replicas: target, lowSinceMs: undefined, reason: 'ScaleDown' };
  return { replicas: input.current, lowSinceMs, reason: 'ScaleDownDelayed' };
}

/** The annotation the ReplicaSet controller reads to choose which pods to delete first on scale-in. */
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

/** a pod with no live worker yet (starting, or crashed) is the cheapest of all to delete */
export const COST_NO_WORKER = -1000;
export const COST_IDLE = -100;
export const COST_PER_RUN = 100;

/**
 * The deletion cost of each worker pod: pods whose worker holds no run go first, then the least busy.
 * Workers are matched to pods by hostname, which is the pod name in Kubernetes.
 */
export function podDeletionCosts(pods: string[], workers: Array<{ hostname: string; activeRuns: number }>): Map<string, number> {
  const runsByHost = new Map<string, number>();
  for (const worker of workers) runsByHost.set(worker.hostname, (runsByHost.get(worker.hostname) ?? 0) + worker.activeRuns);
  return new Map(
    pods.map((pod) => {
      const runs = runsByHost.get(pod);
      return [pod, runs === undefined ? COST_NO_WORKER : runs === 0 ? COST_IDLE : runs * COST_PER_RUN];
    }),
  );
}
