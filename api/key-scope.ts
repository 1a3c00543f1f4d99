import { TaskInput } from '../core/model/index.ts';
import { AuthError, type KeyScope, type Principal } from './auth.ts';

export type { KeyScope };

/**
 * What a key's task permissions reach: a key limited to `task_types = ["http"]` and `pools = ["reports"]`
 * may create, change, trigger and delete only http tasks of pool reports. So TaskWrite need not mean
 * "run any shell command on every worker" (docs/security.md, the trust model).
 */

/** The part of a task a scope judges. */
export interface ScopedTask {
  type: string;
  pool: string;
  name?: string;
}

export function isUnrestricted(scope: KeyScope | undefined): boolean {
  return !scope || (scope.taskTypes === undefined && scope.pools === undefined);
}

/** Throws 403 HG_ERR_AUTH_SCOPE unless the principal's key may touch this task. */
export function assertInScope(principal: Principal, task: ScopedTask, action: string): void {
  const scope = principal.scope;
  if (isUnrestricted(scope)) return;
  const what = task.name ? `task "${task.name}"` : 'this task';
  if (scope?.taskTypes && !scope.taskTypes.includes(task.type)) {
    throw new AuthError(403, 'HG_ERR_AUTH_SCOPE', `this key may not ${action} ${what}: its type "${task.type}" is not one of the key's task types (${scope.taskTypes.join(', ')})`);
  }
  if (scope?.pools && !scope.pools.includes(task.pool)) {
    throw new AuthError(403, 'HG_ERR_AUTH_SCOPE', `this key may not ${action} ${what}: its pool "${task.pool}" is not one of the key's pools (${scope.pools.join(', ')})`);
  }
}

/** The type and pool of a task body as it would be stored (defaults applied); undefined when it does not parse (validation refuses it). */
export function scopedTaskOf(body: unknown): ScopedTask | undefined {
  const parsed = TaskInput.safeParse(body);
  return parsed.success ? { type: parsed.data.type, pool: parsed.data.pool, name: parsed.data.name } : undefined;
}

/** Checks a task body (create, replace, apply, the result of a patch) against the principal's scope. */
export function assertBodyInScope(principal: Principal, body: unknown, action: string): void {
  if (isUnrestricted(principal.scope)) return;
  const task = scopedTaskOf(body);
  if (task) assertInScope(principal, task, action);
}
