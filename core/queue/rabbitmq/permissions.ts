/**
 * RabbitMQ permissions per role (issue 13, item 2; docs/brokers.md): configure / write / read, each a
 * regular expression over exchange and queue names in the virtual host. A worker of one pool may declare
 * the shared topology it asserts on connect, consume its pool's queue and the cancel broadcast, and publish
 * claims and status events (through the default exchange, which RabbitMQ cannot narrow to a queue: the run
 * signature is what stops a forged run, run-signing.ts). The core may do everything of the installation.
 */
import type { QueueNames } from '../port.ts';

export interface RabbitPermissions {
  configure: string;
  write: string;
  read: string;
}

function escape(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function rabbitPermissions(names: QueueNames, role: { kind: 'core' } | { kind: 'worker'; pool: string }): RabbitPermissions {
  const ns = escape(names.namespace);
  const base = `${ns}\\.${escape(names.taskQueue)}`;
  const status = `${ns}\\.${escape(names.statusQueue)}`;
  const heartbeat = `${ns}\\.${escape(names.heartbeatQueue)}`;
  if (role.kind === 'core') {
    const mine = `^(${base}\\..*|${status}|${heartbeat})$`;
    return { configure: mine, write: `^(${base}\\..*|${status}|${heartbeat}|amq\\.default)$`, read: `^(${base}\\..*|${status}|${heartbeat}|amq\\.rabbitmq\\.reply-to)$` };
  }
  const pool = `${base}\\.${escape(role.pool)}`;
  return {
    configure: `^(${pool}|${base}\\.(dead|claims|cancel)|${status}|${heartbeat}|amq\\.gen-.*)$`,
    write: `^(${base}\\.dead|amq\\.default|amq\\.gen-.*)$`,
    read: `^(${pool}|${base}\\.(dead|cancel)|amq\\.gen-.*|amq\\.rabbitmq\\.reply-to)$`,
  };
}
