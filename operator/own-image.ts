import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { describeKubeError, type KubeClients } from './kube.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** outside a cluster (local play against kube:memory) there is no pod to read */
export const FALLBACK_WORKER_IMAGE = 'scheduler:latest';

/**
 * The image worker pods run when neither the WorkerPool nor [operator] worker_image names one: the
 * operator's own image, read from its pod (HOSTNAME is the pod name, the service account file its
 * namespace). So an operator deployed with a tag starts workers of that same tag, never an untagged
 * `latest`. The container named "operator" is preferred, else the pod's first container.
 */
export async function ownImage(kube: KubeClients, logger: Logger, env: NodeJS.ProcessEnv = process.env, namespaceFile = SERVICE_ACCOUNT_NAMESPACE): Promise<string> {
  let namespace: string;
  try {
    namespace = readFileSync(namespaceFile, 'utf8').trim();
  } catch {
    return FALLBACK_WORKER_IMAGE;
  }
  const name = env.POD_NAME || env.HOSTNAME;
  if (!namespace || !name) return FALLBACK_WORKER_IMAGE;
  try {
    const pod = await kube.core.readNamespacedPod({ namespace, name });
    const containers = pod.spec?.containers ?? [];
    const image = (containers.find((c) => c.name === 'operator') ?? containers[0])?.image;
    if (image) return image;
  } catch (error) {
    logger.warn({ err: describeKubeError(error), pod: `${namespace}/${name}` }, 'could not read the operator\'s own pod for the worker image');
  }
  return FALLBACK_WORKER_IMAGE;
}
