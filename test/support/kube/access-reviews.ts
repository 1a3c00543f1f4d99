import type { KubeObject } from './types.ts';
import { isObject } from './types.ts';

/**
 * authorization.k8s.io reviews are answers, not objects: nothing is stored. There is no RBAC here,
 * so every review allows (`kubectl auth can-i` says yes, operators checking permissions proceed).
 */

const REVIEWS = new Set(['selfsubjectaccessreviews', 'subjectaccessreviews', 'selfsubjectrulesreviews']);

export function isAccessReview(group: string, resource: string): boolean {
  return group === 'authorization.k8s.io' && REVIEWS.has(resource);
}

export function answerAccessReview(resource: string, body: unknown): KubeObject {
  const review = (isObject(body) ? body : {}) as KubeObject;
  const reason = 'the in-memory API server has no authorization: everything is allowed';
  const status = resource === 'selfsubjectrulesreviews'
    ? { resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }], incomplete: false }
    : { allowed: true, reason };
  return { ...review, metadata: isObject(review.metadata) ? review.metadata : {}, status };
}
