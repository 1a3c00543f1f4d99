import { createHash } from 'node:crypto';
import { API_GROUP, API_VERSION } from '../core/model/resource.ts';
import type { WorkerPoolSpec } from '../core/model/worker-pool.ts';

export const POOL_LABEL = `${API_GROUP}/pool`;
export const TEMPLATE_HASH_ANNOTATION = `${API_GROUP}/template-hash`;

export interface WorkerDeploymentInput {
  pool: { name: string; namespace: string; uid: string };
  spec: WorkerPoolSpec;
  replicas: number;
  /** image when spec.template.image is unset */
  defaultImage: string;
  /** Secret whose keys (DATABASE_URL, MESSAGE_QUEUE_URL, MESSAGE_QUEUE_TYPE...) become the worker's environment */
  secretName: string;
  /** the worker's drain time on SIGTERM; the pod gets this plus a margin before SIGKILL */
  drainSeconds: number;
}

export const workerDeploymentName = (pool: string): string => `${pool}-workers`;

export function workerSelector(pool: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'hourglass-worker', [POOL_LABEL]: pool };
}

export const selectorString = (pool: string): string => Object.entries(workerSelector(pool)).map(([k, v]) => `${k}=${v}`).join(',');

/**
 * The worker Deployment of a WorkerPool: `scheduler --mode worker --pool NAME` with the broker and
 * database connection from a Secret, owned by the pool (deleted with it). The pod template carries a hash
 * annotation so the reconciler can tell a template change from noise without comparing defaulted fields.
 */
const WORKER_METRICS_PORT = 8080;
/** the image's own non-root user (Dockerfile: USER 1000:1000) */
const WORKER_UID = 1000;

/**
 * Worker pods run shell tasks, so they get as little as a pod can: no root, no capabilities, no privilege
 * escalation, the runtime's seccomp profile, a read-only root filesystem (tasks write to /tmp, an
 * emptyDir), and no service-account token (a task could otherwise act as the pod's service account).
 */
const POD_SECURITY = {
  automountServiceAccountToken: false,
  securityContext: { runAsNonRoot: true, runAsUser: WORKER_UID, runAsGroup: WORKER_UID, fsGroup: WORKER_UID, seccompProfile: { type: 'RuntimeDefault' } },
};
const CONTAINER_SECURITY = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export function buildWorkerDeployment(input: WorkerDeploymentInput): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- a plain Kubernetes object
  const { pool, spec } = input;
  const labels = { ...workerSelector(pool.name), 'app.kubernetes.io/instance': pool.name, 'app.kubernetes.io/managed-by': 'hourglass-operator', 'app.kubernetes.io/part-of': 'hourglass' };
  const template = {
    metadata: { labels },
    spec: {
      terminationGracePeriodSeconds: input.drainSeconds + 15,
      ...POD_SECURITY,
      volumes: [{ name: 'tmp', emptyDir: {} }],
      containers: [
        {
          name: 'worker',
          image: spec.template.image ?? input.defaultImage,
          args: ['--mode', 'worker', '--pool', pool.name],
          envFrom: [{ secretRef: { name: input.secretName } }],
          env: [
            { name: 'WORKER_POOL', value: pool.name },
            { name: 'WORKER_MAX_CONCURRENT_TASKS', value: String(spec.concurrency) },
            { name: 'WORKER_SUPPORTED_TASK_TYPES', value: spec.taskTypes.join(',') },
            // Prometheus scrapes workers as the guide's scheduler-workers job does
            { name: 'METRICS_BIND_ADDRESS', value: `0.0.0.0:${WORKER_METRICS_PORT}` },
            ...spec.template.env,
          ],
          ports: [{ name: 'metrics', containerPort: WORKER_METRICS_PORT }],
          livenessProbe: { httpGet: { path: '/health', port: 'metrics' }, periodSeconds: 20, failureThreshold: 3 },
          // not ready until it consumes (and not while it drains): a rollout waits for the new worker to work
          readinessProbe: { httpGet: { path: '/ready', port: 'metrics' }, periodSeconds: 5, failureThreshold: 2 },
          securityContext: CONTAINER_SECURITY,
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          ...(Object.keys(spec.template.resources).length > 0 ? { resources: spec.template.resources } : {}),
        },
      ],
      ...(Object.keys(spec.template.nodeSelector).length > 0 ? { nodeSelector: spec.template.nodeSelector } : {}),
      ...(spec.template.tolerations.length > 0 ? { tolerations: spec.template.tolerations } : {}),
    },
  };
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 16);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: workerDeploymentName(pool.name),
      namespace: pool.namespace,
      labels,
      annotations: { [TEMPLATE_HASH_ANNOTATION]: hash },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'WorkerPool', name: pool.name, uid: pool.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: workerSelector(pool.name) },
      // scale-in and rollouts never take a worker away before its replacement runs
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template,
    },
  };
}

/**
 * The NetworkPolicy the operator creates with each pool's Deployment, in the pool's namespace (so it
 * exists in every namespace with WorkerPools): worker pods accept connections only on their metrics port
 * and only from Prometheus' namespaces (named monitoring, or labelled hourglass.dev/monitoring=true).
 * Workers need no inbound connection otherwise: they pull work from the broker.
 */
export function buildWorkerNetworkPolicy(pool: { name: string; namespace: string; uid: string }): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- a plain Kubernetes object
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: workerDeploymentName(pool.name),
      namespace: pool.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'hourglass-operator', 'app.kubernetes.io/part-of': 'hourglass' },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'WorkerPool', name: pool.name, uid: pool.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      podSelector: { matchLabels: workerSelector(pool.name) },
      policyTypes: ['Ingress'],
      ingress: [{
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
          { namespaceSelector: { matchLabels: { 'hourglass.dev/monitoring': 'true' } } },
        ],
        ports: [{ protocol: 'TCP', port: WORKER_METRICS_PORT }],
      }],
    },
  };
}
