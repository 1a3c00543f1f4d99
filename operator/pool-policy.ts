import type { WorkerPoolSpec } from '../core/model/worker-pool.ts';

/** What the operator's configuration lets a WorkerPool ask for (operator.allowed_worker_images, ...). */
export interface PoolPolicy {
  /** the operator's worker_image: always allowed */
  defaultImage: string;
  /** exact images, or prefixes ending in "*"; empty: only defaultImage */
  allowedImages: string[];
  /** Secret names spec.template.env may reference through secretKeyRef */
  allowedEnvSecrets: string[];
  allowControlPlane: boolean;
}

const CONTROL_PLANE_KEYS = ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'];

const imageAllowed = (image: string, policy: PoolPolicy): boolean =>
  image === policy.defaultImage || policy.allowedImages.some((allowed) => (allowed.endsWith('*') ? image.startsWith(allowed.slice(0, -1)) : image === allowed));

/**
 * Why a WorkerPool's spec goes beyond what the operator allows, one sentence per field (empty: allowed).
 * A pool is a Deployment the operator creates with its own rights, so without these bounds whoever may
 * write a WorkerPool could run any image with any Secret of the namespace, on control-plane nodes.
 */
export function poolPolicyProblems(spec: WorkerPoolSpec, policy: PoolPolicy): string[] {
  const problems: string[] = [];
  const image = spec.template.image;
  if (image !== undefined && !imageAllowed(image, policy)) {
    problems.push(`spec.template.image "${image}" is not allowed (operator.allowed_worker_images: ${policy.allowedImages.length > 0 ? policy.allowedImages.join(', ') : `only ${policy.defaultImage}`})`);
  }
  spec.template.env.forEach((entry, i) => {
    const valueFrom = entry['valueFrom'] as { secretKeyRef?: { name?: unknown } } | undefined;
    const secret = valueFrom?.secretKeyRef?.name;
    if (valueFrom?.secretKeyRef && (typeof secret !== 'string' || !policy.allowedEnvSecrets.includes(secret))) {
      problems.push(`spec.template.env[${i}].valueFrom.secretKeyRef names Secret "${String(secret)}", which operator.allowed_env_secrets does not list`);
    }
  });
  if (!policy.allowControlPlane) {
    spec.template.tolerations.forEach((toleration, i) => {
      const key = toleration['key'];
      // no key with operator Exists tolerates every taint, the control plane's included
      if ((typeof key === 'string' && CONTROL_PLANE_KEYS.includes(key)) || (key === undefined && toleration['operator'] === 'Exists')) {
        problems.push(`spec.template.tolerations[${i}] tolerates control-plane taints (operator.allow_control_plane_nodes is false)`);
      }
    });
    for (const key of Object.keys(spec.template.nodeSelector)) {
      if (CONTROL_PLANE_KEYS.includes(key)) problems.push(`spec.template.nodeSelector selects control-plane nodes (${key}; operator.allow_control_plane_nodes is false)`);
    }
  }
  return problems;
}
