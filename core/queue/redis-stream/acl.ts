/**
 * Redis ACL rules per role (issue 13, item 2; docs/brokers.md shows them for the default names). Each role
 * may touch only its keys, with only the commands it uses (commands run inside the claim script are
 * checked too):
 * - the core (dispatcher, API): every stream and claim key of the installation, the cancel channel;
 * - the worker of one pool: read and settle its pool's streams, take claim keys, and only append to the
 *   status, heartbeat and dead-letter streams (it cannot read other workers' events, nor another pool's
 *   runs). What it cannot be stopped from writing (its own pool's stream, any claim key) the signature
 *   and the claim protect: it cannot make a run that verifies (run-signing.ts).
 */
import type { QueueNames } from '../port.ts';

const CONNECTION = ['+ping', '+hello', '+auth', '+select', '+info', '+client|setname', '+client|id', '+client|unblock', '+multi', '+exec', '+discard', '+quit'];
const SCRIPT = ['+evalsha', '+eval', '+xrange', '+xack', '+xdel', '+xadd', '+set', '+get', '+time'];
const WORKER_COMMANDS = [...CONNECTION, ...SCRIPT, '+xreadgroup', '+xautoclaim', '+xgroup|create', '+subscribe', '+unsubscribe'];
const CORE_COMMANDS = [...WORKER_COMMANDS, '+xinfo|groups', '+xlen', '+publish'];

/** `ACL SETUSER <user>` arguments after the user name and password: resets, then grants. */
export function redisAclRules(names: QueueNames, role: { kind: 'core' } | { kind: 'worker'; pool: string }): string[] {
  const base = `${names.namespace}:${names.taskQueue}`;
  const status = `${names.namespace}:${names.statusQueue}`;
  const heartbeat = `${names.namespace}:${names.heartbeatQueue}`;
  const common = ['resetkeys', 'resetchannels', '-@all', `&${base}:cancel`];
  if (role.kind === 'core') {
    return [...common, `~${base}:*`, `~${status}`, `~${status}:dead`, `~${heartbeat}`, ...CORE_COMMANDS];
  }
  return [...common, `~${base}:${role.pool}:*`, `~${base}:claim:*`, `%W~${status}`, `%W~${heartbeat}`, `%W~${base}:dead`, ...WORKER_COMMANDS];
}
