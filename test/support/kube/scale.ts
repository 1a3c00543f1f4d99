import { evaluateJsonPath, setAtPath } from './jsonpath.ts';
import type { StoredObject } from './object-store.ts';
import type { ScaleSubresource } from './resource-type.ts';
import type { KubeObject } from './types.ts';
import { deepClone, isObject } from './types.ts';

/** The `scale` subresource: an autoscaling/v1 Scale view of a replica count somewhere in the object. */

function selectorOf(object: KubeObject, scale: ScaleSubresource): string | undefined {
  if (!scale.labelSelectorPath) return undefined;
  const [value] = evaluateJsonPath(object, scale.labelSelectorPath);
  if (typeof value === 'string') return value;
  // Built-in workloads keep a structured selector in spec.selector; Scale shows it serialized.
  const structured = (object.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector;
  if (isObject(structured?.matchLabels)) {
    return Object.entries(structured.matchLabels).map(([key, label]) => `${key}=${label}`).join(',');
  }
  return undefined;
}

export function toScale(stored: StoredObject, scale: ScaleSubresource): KubeObject {
  const object = stored.object;
  const [specReplicas] = evaluateJsonPath(object, scale.specReplicasPath);
  const [statusReplicas] = evaluateJsonPath(object, scale.statusReplicasPath);
  const selector = selectorOf(object, scale);
  const meta = object.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: meta.name,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      creationTimestamp: meta.creationTimestamp,
    },
    spec: { replicas: typeof specReplicas === 'number' ? specReplicas : 0 },
    status: { replicas: typeof statusReplicas === 'number' ? statusReplicas : 0, ...(selector ? { selector } : {}) },
  };
}

/** The object with the Scale's desired replicas written back, for the ordinary update path. */
export function applyScale(stored: StoredObject, scale: ScaleSubresource, desired: KubeObject): KubeObject {
  const next = deepClone(stored.object);
  const replicas = (desired.spec as { replicas?: unknown } | undefined)?.replicas;
  setAtPath(next as unknown as Record<string, unknown>, scale.specReplicasPath, replicas);
  next.metadata.resourceVersion = desired.metadata.resourceVersion ?? stored.object.metadata.resourceVersion;
  return next;
}
