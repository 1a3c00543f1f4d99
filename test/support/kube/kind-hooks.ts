import type { WriteRequest } from './api-state.ts';
import { nowTimestamp } from './api-state.ts';
import { establishedStatus, resourceTypeOfCrd, validateCrd } from './crd-types.ts';
import type { FieldProblem } from './errors.ts';
import type { StoredObject } from './object-store.ts';
import type { KubeObject } from './types.ts';
import { deepEqual, isObject } from './types.ts';

/**
 * The little per-kind behaviour a controller-less cluster still shows: defaults the real API server
 * applies, the checks kubectl users hit first, and CRDs becoming served kinds.
 */
export interface KindHooks {
  /** Applies defaults to `next` and returns what is invalid about it. */
  admit?(next: KubeObject, old: KubeObject | undefined, request: WriteRequest): FieldProblem[];
  afterCommit?(stored: StoredObject, request: WriteRequest): void;
}

function record(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

const deployments: KindHooks = {
  admit(next) {
    const spec = record(next.spec);
    next.spec = spec;
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
    const problems: FieldProblem[] = [];
    const matchLabels = record(record(spec.selector).matchLabels);
    const templateLabels = record(record(record(spec.template).metadata).labels);
    if (!isObject(spec.selector)) problems.push({ field: 'spec.selector', type: 'FieldValueRequired', detail: 'Required value' });
    else if (!Object.entries(matchLabels).every(([key, value]) => templateLabels[key] === value)) {
      problems.push({ field: 'spec.template.metadata.labels', type: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(templateLabels)}: \`selector\` does not match template \`labels\`` });
    }
    const containers = record(record(spec.template).spec).containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      problems.push({ field: 'spec.template.spec.containers', type: 'FieldValueRequired', detail: 'Required value' });
    }
    return problems;
  },
};

let nextClusterIp = 1;

const services: KindHooks = {
  admit(next, old) {
    const spec = record(next.spec);
    next.spec = spec;
    spec.type ??= 'ClusterIP';
    const previousIp = record(old?.spec).clusterIP;
    if (spec.clusterIP === undefined && spec.type !== 'ExternalName') {
      const ip = typeof previousIp === 'string' ? previousIp : `10.96.${Math.floor(nextClusterIp / 250)}.${(nextClusterIp++ % 250) + 1}`;
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    }
    return [];
  },
};

const secrets: KindHooks = {
  admit(next) {
    next.type ??= 'Opaque';
    if (isObject(next.stringData)) {
      const data = record(next.data);
      for (const [key, value] of Object.entries(next.stringData)) data[key] = Buffer.from(String(value)).toString('base64');
      next.data = data;
    }
    delete next.stringData;
    return [];
  },
};

const namespaces: KindHooks = {
  admit(next) {
    if (!next.metadata.deletionTimestamp) next.status = { phase: 'Active' };
    return [];
  },
};

const pods: KindHooks = {
  admit(next, old) {
    if (!old) next.status = { phase: 'Pending', ...record(next.status) };
    return [];
  },
};

const customResourceDefinitions: KindHooks = {
  admit(next, old) {
    const problems = validateCrd(next);
    if (problems.length > 0) return problems;
    const status = old && deepEqual(old.spec, next.spec) && isObject(old.status) ? old.status : establishedStatus(next, nowTimestamp());
    next.status = status;
    return [];
  },
  afterCommit(stored, request) {
    if (stored.object.metadata.deletionTimestamp) return;
    request.state.registry.register(resourceTypeOfCrd(stored.object));
  },
};

const HOOKS: Record<string, KindHooks> = {
  'apps/deployments': deployments,
  '/services': services,
  '/secrets': secrets,
  '/namespaces': namespaces,
  '/pods': pods,
  'apiextensions.k8s.io/customresourcedefinitions': customResourceDefinitions,
};

export function hooksFor(storeKey: string): KindHooks {
  return HOOKS[storeKey] ?? {};
}
