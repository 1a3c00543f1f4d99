import { PERMISSIONS } from '../core/config/index.ts';

export type Permission = (typeof PERMISSIONS)[number];
export { PERMISSIONS };

/**
 * What a route asks of its caller: a permission, any valid credential ('authenticated'), or nothing
 * ('public': liveness, readiness, metrics, the OpenAPI document, and the token endpoints, which check
 * the credential in their body themselves).
 */
export type RouteAccess = Permission | 'authenticated' | 'public';

/** Admin implies every permission. */
export function grants(held: readonly Permission[], needed: RouteAccess): boolean {
  if (needed === 'public' || needed === 'authenticated') return true;
  return held.includes('Admin') || held.includes(needed);
}
